import FileFormats
import Foundation
import Layers
import NeuralVocoder
import Spectral
import Tensors
import TestSupport
import XCTest

/// The learned vocoder at a tiny size (8 kHz, nFFT 64, 8 mel bands, width 8): each gradient
/// against finite differences, a short training run whose loss falls, checkpoints that resume
/// exactly and load as a `Vocoder`, and refusal of files that are not vocoders.
final class NeuralVocoderTests: XCTestCase {
    static var frontEnd: FrontEndConfiguration {
        var f = FrontEndConfiguration()
        (f.sampleRate, f.nFFT, f.hopLength, f.nMels) = (8_000, 64, 16, 8)
        return f
    }

    static func configuration() throws -> LearnedVocoderConfiguration {
        var c = LearnedVocoderConfiguration(frontEnd: frontEnd, inputRange: try LogMelNormalization(minDB: -80, maxDB: 0))
        (c.width, c.hiddenWidth, c.blocks, c.kernelSize, c.segmentFrames, c.batchSize) = (8, 16, 1, 3, 8, 3)
        c.learningRate = 3e-3
        return c
    }

    /// A tone sweeping upwards under a rising and falling envelope, its pitch set by `index`.
    static func clip(_ index: Int, count: Int = 900) -> [Float] {
        var phase = 0.0
        return (0..<count).map { n in
            let t = Double(n) / Double(count)
            phase += 2 * Double.pi * (300 + 200 * Double(index) + 900 * t) / 8_000
            return Float(0.5 * sin(Double.pi * t) * sin(phase))
        }
    }

    static func clips(_ count: Int, configuration: LearnedVocoderConfiguration) throws -> [VocoderClip] {
        let inversion = try FeatureInversion(configuration: configuration.frontEnd)
        return try (0..<count).map {
            try VocoderClip(name: "clip\($0)", samples: clip($0), inversion: inversion, segmentFrames: configuration.segmentFrames)
        }
    }

    private func values(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var random = RandomNumbers(seed: seed)
        return random.uniform([n], low: -scale, high: scale).values
    }

    func testSignalLossGradientMatchesFiniteDifferences() throws {
        // The log-magnitude terms are |log(M^ + eps) - log(M + eps)|: kinked where the two
        // magnitudes cross and steep where they are small. The target is a tone over a noise
        // floor with a constant and a Nyquist-rate part (so that no bin is near zero, the DC and
        // Nyquist bins included, whose magnitude is |Re|), the sound 1.5 times it plus a little
        // other noise (M^ > M everywhere), so the loss is smooth near it. Coordinates where the
        // quotients at h and h / 4 still disagree (a kink within h) are skipped, at most a sixth.
        let loss = try VocoderLoss(frontEnd: Self.frontEnd, weights: LossWeights())
        let floor = values(400, seed: 1, scale: 0.05), other = values(400, seed: 2, scale: 0.005)
        let target = (0..<400).map { n -> Float in
            let nyquist: Float = n % 2 == 0 ? 0.1 : -0.1
            return Float(0.4 * sin(Double(n) * 0.3)) + 0.2 + nyquist + floor[n]
        }
        let generated = zip(target, other).map { 1.5 * $0 + $1 }
        let (_, gradient) = try loss.signalTerms(generated: generated, target: target)
        func quotient(_ i: Int, _ h: Float) throws -> Float {
            var (plus, minus) = (generated, generated)
            plus[i] += h
            minus[i] -= h
            let (up, _) = try loss.signalTerms(generated: plus, target: target)
            let (down, _) = try loss.signalTerms(generated: minus, target: target)
            return Float((Double(loss.total(up)) - Double(loss.total(down))) / Double(2 * h))
        }
        var (checked, kinks, maxDiff): (Int, Int, Float) = (0, 0, 0)
        for i in stride(from: 3, to: 400, by: 7) {
            let (coarse, fine) = (try quotient(i, 4e-3), try quotient(i, 1e-3))
            guard abs(coarse - fine) <= 2e-3 + 0.03 * abs(fine) else {
                kinks += 1
                continue
            }
            maxDiff = max(maxDiff, abs(fine - gradient[i]))
            XCTAssertEqual(gradient[i], fine, accuracy: 3e-3 + 0.03 * abs(fine), "sample \(i)")
            checked += 1
        }
        XCTAssertLessThanOrEqual(kinks, (checked + kinks) / 6)
        print("signal loss: \(checked) samples match finite differences, maxdiff \(maxDiff), \(kinks) at kinks skipped")
    }

    func testSpectrumLossGradientMatchesFiniteDifferences() throws {
        for byMagnitude in [true, false] {
            var weights = LossWeights()
            weights.phaseByMagnitude = byMagnitude
            try checkSpectrumLoss(weights)
        }
    }

    private func checkSpectrumLoss(_ weights: LossWeights) throws {
        let loss = try VocoderLoss(frontEnd: Self.frontEnd, weights: weights)
        let (bins, frames) = (5, 6)
        let n = bins * frames
        let (z, p) = (values(n, seed: 2), values(n, seed: 3, scale: 3))
        let (zTrue, pTrue) = (values(n, seed: 4), values(n, seed: 5, scale: 3))
        func evaluate(_ z: [Float], _ p: [Float]) -> (Double, [Float], [Float]) {
            let (terms, dz, dp) = loss.spectrumTerms(logMagnitude: z[...], phase: p[...], trueLogMagnitude: zTrue[...],
                                                     truePhase: pTrue[...], bins: bins, frames: frames)
            return (Double(loss.total(terms)), dz, dp)
        }
        let (_, dz, dp) = evaluate(z, p)
        let h: Float = 1e-3
        for i in 0..<n {
            var (zPlus, zMinus, pPlus, pMinus) = (z, z, p, p)
            zPlus[i] += h; zMinus[i] -= h; pPlus[i] += h; pMinus[i] -= h
            XCTAssertEqual(dz[i], Float((evaluate(zPlus, p).0 - evaluate(zMinus, p).0) / Double(2 * h)), accuracy: 1e-3, "dz[\(i)]")
            XCTAssertEqual(dp[i], Float((evaluate(z, pPlus).0 - evaluate(z, pMinus).0) / Double(2 * h)), accuracy: 1e-3, "dphase[\(i)]")
        }
        // A phase off by whole turns costs nothing: the differences are anti-wrapped.
        let turned = zip(pTrue, (0..<n).map { Float(($0 % 3) - 1) * 2 * .pi }).map { $0 + $1 }
        let (terms, _, _) = loss.spectrumTerms(logMagnitude: zTrue[...], phase: turned[...], trueLogMagnitude: zTrue[...],
                                               truePhase: pTrue[...], bins: bins, frames: frames)
        for name in ["phase_ip", "phase_gd", "phase_iaf", "magnitude"] { XCTAssertEqual(terms[name]!, 0, accuracy: 1e-5, name) }
    }

    func testNetworkBackwardMatchesFiniteDifferences() throws {
        let configuration = try Self.configuration()
        var random = RandomNumbers(seed: 9)
        let network = VocoderNetwork(configuration, random: &random)
        // Away from the zero start of the magnitude head, so that its gradient is exercised everywhere.
        for parameter in network.parameters { parameter.value = random.uniform(parameter.value.shape, low: -0.5, high: 0.5) }
        let (batch, frames, bins) = (2, 5, configuration.bins)
        let input = random.uniform([batch, frames, 8], low: -1, high: 1)
        let prior = random.uniform([batch * bins * frames], low: -3, high: 0).values
        let phasePrior = random.uniform([batch * bins * frames], low: -3, high: 3).values
        var weights: [[Float]] = []
        for _ in 0..<4 { weights.append(random.uniform([batch * bins * frames], low: -1, high: 1).values) }
        func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
        func loss() -> Double {
            let spectra = network.forward(input, logPrior: prior, phasePrior: phasePrior).spectra
            return dot(spectra.real, weights[0]) + dot(spectra.imaginary, weights[1]) + dot(spectra.logMagnitude, weights[2])
                + dot(spectra.phase, weights[3])
        }
        let cache = network.forward(input, logPrior: prior, phasePrior: phasePrior).cache
        network.zeroGradients()
        network.backward(dReal: weights[0], dImaginary: weights[1], dLogMagnitude: weights[2], dPhase: weights[3], cache: cache)
        var maxDiff: Float = 0, checked = 0
        for (name, parameter) in network.namedParameters {
            for i in stride(from: 0, to: parameter.value.count, by: max(1, parameter.value.count / 4)) {
                let h: Float = 1e-2
                parameter.value.values[i] += h
                let plus = loss()
                parameter.value.values[i] -= 2 * h
                let minus = loss()
                parameter.value.values[i] += h
                let numeric = Float((plus - minus) / Double(2 * h))
                let analytic = parameter.gradient.values[i]
                maxDiff = max(maxDiff, abs(analytic - numeric))
                XCTAssertEqual(analytic, numeric, accuracy: 5e-3 + 3e-2 * abs(numeric), "\(name)[\(i)]")
                checked += 1
            }
        }
        print("vocoder network: \(checked) coordinates match finite differences, maxdiff \(maxDiff)")
    }

    func testAnUntrainedVocoderIsItsPriors() throws {
        // Before any training the network changes nothing: S = NNLS magnitude x e^(i PGHI phase).
        let configuration = try Self.configuration()
        var random = RandomNumbers(seed: 5)
        let network = VocoderNetwork(configuration, random: &random)
        let (batch, frames, bins) = (2, 6, configuration.bins)
        let logPrior = random.uniform([batch * bins * frames], low: -4, high: 1).values
        let phasePrior = random.uniform([batch * bins * frames], low: -3, high: 3).values
        let spectra = network.forward(random.uniform([batch, frames, 8], low: -1, high: 1), logPrior: logPrior,
                                      phasePrior: phasePrior).spectra
        assertClose(spectra.real, zip(logPrior, phasePrior).map { exp($0) * cos($1) }, absolute: 1e-5, relative: 1e-5)
        assertClose(spectra.imaginary, zip(logPrior, phasePrior).map { exp($0) * sin($1) }, absolute: 1e-5, relative: 1e-5)
        assertClose(spectra.phase, phasePrior, absolute: 1e-6)
    }

    func testTrainingLowersTheLoss() throws {
        let configuration = try Self.configuration()
        let trainer = try VocoderTrainer(configuration: configuration, clips: try Self.clips(4, configuration: configuration))
        let fixed: [(clip: Int, start: Int)] = [(0, 3), (1, 10), (2, 20), (3, 30)]
        let before = try trainer.accumulateGradients(fixed)
        for _ in 0..<150 { _ = try trainer.trainStep() }
        let after = try trainer.accumulateGradients(fixed)
        print("vocoder training: " + before.keys.sorted().map { "\($0) \(before[$0]!) -> \(after[$0]!)" }.joined(separator: ", "))
        // It starts from its priors (NNLS + PGHI), so what falls first is what they miss most:
        // the magnitude's fine structure; the sound's mel follows.
        XCTAssertLessThan(after["loss"]!, 0.9 * before["loss"]!)
        XCTAssertLessThan(after["magnitude"]!, 0.85 * before["magnitude"]!)
        XCTAssertLessThan(after["mel"]!, before["mel"]!)
    }

    func testCheckpointResumesExactlyAndLoadsAsAVocoder() throws {
        let folder = try makeTemporaryFolder(self)
        let configuration = try Self.configuration()
        let clips = try Self.clips(3, configuration: configuration)
        let straight = try VocoderTrainer(configuration: configuration, clips: clips)
        var expected: [Float] = []
        for _ in 0..<5 { expected.append(try straight.trainStep()["loss"]!) }

        let first = try VocoderTrainer(configuration: configuration, clips: clips)
        var resumed: [Float] = []
        for _ in 0..<3 { resumed.append(try first.trainStep()["loss"]!) }
        let path = folder + "/checkpoint.safetensors"
        try first.save(to: path)
        let second = try VocoderTrainer(configuration: configuration, clips: clips)
        try second.restore(from: try SafeTensors.read(path), path: path)
        XCTAssertEqual(second.step, 3)
        for _ in 0..<2 { resumed.append(try second.trainStep()["loss"]!) }
        XCTAssertEqual(resumed, expected)

        // Loaded as a Vocoder (from the file or its folder), it is the trained network.
        try second.save(to: path)
        for source in [path, folder] {
            let vocoder = try LearnedVocoder(checkpoint: source)
            XCTAssertEqual(vocoder.configuration, Self.frontEnd)
            XCTAssertEqual(vocoder.step, 5)
            let features = try MelFrontEnd(Self.frontEnd).features(Self.clip(1))
            let clip = try vocoder.synthesize(features, normalization: nil, length: 900)
            XCTAssertEqual(clip.samples.count, 900)
            XCTAssertTrue(clip.samples.allSatisfy(\.isFinite))
            // The batch path gives the same sound as one by one.
            let batch = try vocoder.synthesize([features, features], normalization: nil, threads: 2)
            assertClose(batch[1].samples, Array(try vocoder.synthesize(features, normalization: nil, length: nil).samples), absolute: 1e-6)
        }
    }

    func testRefusesWhatIsNotAVocoder() throws {
        let folder = try makeTemporaryFolder(self)
        let path = folder + "/model.safetensors"
        try SafeTensors(tensors: [NamedTensor(name: "x", shape: [1], values: [0])], metadata: ["training": "{}"]).write(to: path)
        XCTAssertThrowsError(try LearnedVocoder(checkpoint: path)) { error in
            XCTAssertTrue("\(error)".contains("a generative model's checkpoint, not a learned vocoder"), "\(error)")
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try LearnedVocoder(checkpoint: path))
        XCTAssertThrowsError(try LearnedVocoder(checkpoint: folder + "/missing.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("missing.safetensors"), "\(error)")
        }
        // Features of another front end are refused by the prior's check, naming the bands.
        let configuration = try Self.configuration()
        let trainer = try VocoderTrainer(configuration: configuration, clips: try Self.clips(1, configuration: configuration))
        try trainer.save(to: path)
        let vocoder = try LearnedVocoder(checkpoint: path)
        XCTAssertThrowsError(try vocoder.synthesize(Spectrogram(bins: 12, frames: 10), normalization: nil, length: nil)) { error in
            XCTAssertTrue("\(error)".contains("12"), "\(error)")
        }
    }
}
