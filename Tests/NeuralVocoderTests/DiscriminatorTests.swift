import FileFormats
import Foundation
import Layers
@testable import NeuralVocoder
import Spectral
import Tensors
import TestSupport
import XCTest

/// The adversarial vocoder's discriminators at a tiny size: each discriminator's gradients
/// (its weights' and the sound's) against finite differences, the game's gradients for both
/// players against finite differences of its losses, and a run with discriminators that
/// resumes exactly, keeps them in its checkpoint and still loads as a vocoder.
final class DiscriminatorTests: XCTestCase {
    var random = RandomNumbers(seed: 11)

    static var tiny: AdversarialConfiguration {
        var c = AdversarialConfiguration(nFFT: 32)
        (c.periods, c.periodChannels, c.resolutionChannels) = ([2, 3], [3, 4, 3], 3)
        return c
    }

    /// `assertGradients` with a step of 1e-3: the discriminators' LeakyReLUs have many kinks
    /// within its 1e-2 of tiny layers' values (fp32 keeps a 1e-3 quotient within about 1e-4).
    func checkGradients(_ label: String, input: Tensor, parameters: [Parameter],
                        _ run: (Tensor) -> (output: Tensor, backward: (Tensor) -> Tensor)) {
        let first = run(input)
        let r = random.uniform(first.output.shape, low: -1, high: 1)
        for parameter in parameters { parameter.gradient.zero() }
        let dx = first.backward(r)
        func loss(_ x: Tensor) -> Double { zip(run(x).output.values, r.values).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        let h: Float = 1e-3
        var x = input
        var (checked, kinks) = (0, 0)
        func compare(_ what: String, _ analytic: Float, _ perturb: (Float) -> Void) {
            perturb(h)
            let plus = loss(x)
            perturb(-2 * h)
            let minus = loss(x)
            perturb(h)
            let numeric = Float((plus - minus) / Double(2 * h))
            var agrees = abs(analytic - numeric) <= 2e-3 + 2e-2 * abs(numeric)
            if !agrees {
                // A kink within h: the quotient over a tenth of the step (fp32 noise about 1e-3) decides.
                perturb(h / 10)
                let finerPlus = loss(x)
                perturb(-h / 5)
                let finerMinus = loss(x)
                perturb(h / 10)
                let finer = Float((finerPlus - finerMinus) / Double(h / 5))
                agrees = abs(analytic - finer) <= 5e-3 + 2e-2 * abs(finer)
                if agrees { kinks += 1 }
            }
            XCTAssertTrue(agrees, "\(label) d\(what): analytic \(analytic) vs numeric \(numeric)")
            checked += 1
        }
        for i in stride(from: 0, to: x.count, by: max(1, x.count / 40)) {
            compare("x[\(i)]", dx.values[i]) { x.values[i] += $0 }
        }
        for parameter in parameters {
            let analytic = parameter.gradient
            for i in stride(from: 0, to: parameter.value.count, by: max(1, parameter.value.count / 10)) {
                compare("\(parameter.name)[\(i)]", analytic.values[i]) { parameter.value.values[i] += $0 }
            }
        }
        XCTAssertGreaterThan(checked, 40)
        XCTAssertLessThanOrEqual(kinks, 3, "\(label): too many quotients needed the finer step")
    }

    func testPeriodDiscriminatorGradients() {
        let discriminator = PeriodDiscriminator(period: 3, channels: [3, 4, 3], random: &random)
        // 2 sounds of 40 samples: 14 rows of 3 (the last padded), steps 14 -> 5 -> 2 -> 2 -> 2.
        let sounds = random.normal([2, 40], deviation: 0.5)
        checkGradients("period 3", input: sounds, parameters: discriminator.parameters) { x in
            let pass = discriminator.forward(x)
            let logits = pass.features.last!
            return (logits, { dy in
                let none = [Tensor?](repeating: nil, count: pass.features.count - 1)
                return discriminator.backward(none + [dy], pass: pass, parameterGradients: true, inputGradient: true)!
            })
        }
        let pass = discriminator.forward(sounds)
        XCTAssertEqual(pass.features.map(\.shape), [[6, 5, 3], [6, 2, 4], [6, 2, 3], [6, 2, 1]])
    }

    func testResolutionDiscriminatorGradients() throws {
        let discriminator = try ResolutionDiscriminator(nFFT: 16, channels: 3, random: &random)
        let sounds = random.normal([2, 48], deviation: 0.5)
        checkGradients("resolution 16", input: sounds, parameters: discriminator.parameters) { x in
            let pass = try! discriminator.forward(x)
            return (pass.features.last!, { dy in
                let none = [Tensor?](repeating: nil, count: pass.features.count - 1)
                return try! discriminator.backward(none + [dy], pass: pass, parameterGradients: true, inputGradient: true)!
            })
        }
    }

    /// The vocoder's gradient is that of adversarialWeight * adv + featureWeight * fm with
    /// respect to the made sound (least squares: smooth; hinge's adversarial term is linear);
    /// the discriminators' that of their loss with respect to their weights.
    func testTheGameGradientsMatchFiniteDifferencesOfItsLosses() throws {
        for loss in AdversarialConfiguration.Loss.allCases {
            var configuration = Self.tiny
            configuration.loss = loss
            var seeded = RandomNumbers(seed: 3)
            let discriminators = try Discriminators(configuration, random: &seeded)
            let real = random.normal([2, 48], deviation: 0.4)
            var made = random.normal([2, 48], deviation: 0.4)
            let weight: Float = 0.5
            discriminators.zeroGradients()
            let (_, dMade) = try discriminators.step(made: made, real: real, weight: weight)
            let gradients = discriminators.parameters.map(\.gradient)
            func vocoderLoss(_ x: Tensor) throws -> Double {
                let terms = try discriminators.step(made: x, real: real, weight: 1).terms
                return Double(configuration.adversarialWeight * terms["adv"]! + configuration.featureWeight * terms["fm"]!)
            }
            func discriminatorLoss() throws -> Double { Double(try discriminators.step(made: made, real: real, weight: weight).terms["disc"]!) }
            let h: Float = 1e-3
            var worst: Float = 0
            for i in stride(from: 0, to: made.count, by: 7) {
                made.values[i] += h
                let plus = try vocoderLoss(made)
                made.values[i] -= 2 * h
                let minus = try vocoderLoss(made)
                made.values[i] += h
                let numeric = Float((plus - minus) / Double(2 * h))
                // dMade is per segment (not yet times the weight); the loss above weighs each 1.
                worst = max(worst, abs(dMade.values[i] - numeric))
                XCTAssertEqual(dMade.values[i], numeric, accuracy: 3e-3 + 3e-2 * abs(numeric), "\(loss) dMade[\(i)]")
            }
            for (parameter, gradient) in zip(discriminators.parameters, gradients).prefix(8) {
                for i in stride(from: 0, to: parameter.value.count, by: max(1, parameter.value.count / 4)) {
                    parameter.value.values[i] += h
                    let plus = try discriminatorLoss()
                    parameter.value.values[i] -= 2 * h
                    let minus = try discriminatorLoss()
                    parameter.value.values[i] += h
                    let numeric = Float((plus - minus) / Double(2 * h))
                    XCTAssertEqual(gradient.values[i], numeric, accuracy: 3e-3 + 3e-2 * abs(numeric), "\(loss) d\(parameter.name)[\(i)]")
                }
            }
            print("discriminators (\(loss)): the sound's gradient within \(worst) of finite differences")
        }
    }

    func testAnAdversarialRunResumesExactlyAndLoadsAsAVocoder() throws {
        let folder = try makeTemporaryFolder(self)
        var configuration = try NeuralVocoderTests.configuration()
        configuration.adversarial = Self.tiny
        configuration.weights.mel = 45
        let clips = try NeuralVocoderTests.clips(3, configuration: configuration)
        let straight = try VocoderTrainer(configuration: configuration, clips: clips)
        var expected: [[String: Float]] = []
        for _ in 0..<5 { expected.append(try straight.trainStep()) }
        XCTAssertTrue(expected.allSatisfy { ["adv", "fm", "disc"].allSatisfy($0.keys.contains) && $0.values.allSatisfy(\.isFinite) })

        let first = try VocoderTrainer(configuration: configuration, clips: clips)
        var resumed: [[String: Float]] = []
        for _ in 0..<3 { resumed.append(try first.trainStep()) }
        let path = folder + "/checkpoint.safetensors"
        try first.save(to: path)
        let file = try SafeTensors.read(path)
        XCTAssertTrue(file.tensors.contains { $0.name.hasPrefix("discriminator.period2.") })
        XCTAssertTrue(file.tensors.contains { $0.name.hasPrefix("discriminator.resolution32.") })
        XCTAssertTrue(file.tensors.contains { $0.name.hasPrefix("adam_discriminator.") })
        XCTAssertEqual(try VocoderTrainer.configuration(of: file, path: path).adversarial, Self.tiny)
        let second = try VocoderTrainer(configuration: configuration, clips: clips)
        try second.restore(from: file, path: path)
        for _ in 0..<2 { resumed.append(try second.trainStep()) }
        XCTAssertEqual(resumed, expected)
        // The vocoder alone loads from it, and its sound is the trained network's.
        try second.save(to: path)
        let vocoder = try LearnedVocoder(checkpoint: path)
        XCTAssertEqual(vocoder.step, 5)
        let made = try vocoder.synthesize(clips[0].features, normalization: nil, length: clips[0].sampleCount).samples
        XCTAssertTrue(made.allSatisfy(\.isFinite))
        // A configuration describing far more weights than the file holds is refused before
        // anything is built, and so is a size out of range.
        for (channels, expected) in [([4_096, 4_096, 4_096], "describes at least"), ([1 << 20, 4], "out of range")] {
            let saved = try SafeTensors.read(path)
            var crafted = try VocoderTrainer.configuration(of: saved, path: path)
            crafted.adversarial?.periodChannels = channels
            var metadata = saved.metadata
            metadata["vocoder"] = String(decoding: try JSONEncoder().encode(crafted), as: UTF8.self)
            XCTAssertThrowsError(try VocoderTrainer.configuration(of: SafeTensors(tensors: saved.tensors, metadata: metadata), path: path)) {
                XCTAssertTrue("\($0)".contains(expected) && "\($0)".contains(path), "\($0)")
            }
        }
        // Speeds out of range, or too many (each a copy of the corpus), are refused too.
        for speeds: [Float] in [[3], Array(repeating: 0.9, count: 9)] {
            let saved = try SafeTensors.read(path)
            var crafted = try VocoderTrainer.configuration(of: saved, path: path)
            crafted.speeds = speeds
            var metadata = saved.metadata
            metadata["vocoder"] = String(decoding: try JSONEncoder().encode(crafted), as: UTF8.self)
            XCTAssertThrowsError(try VocoderTrainer.configuration(of: SafeTensors(tensors: saved.tensors, metadata: metadata), path: path)) {
                XCTAssertTrue("\($0)".contains("speeds") && "\($0)".contains(path), "\($0)")
            }
        }
        // Without its discriminators a checkpoint that names them is refused by the tensor's name.
        let pruned = SafeTensors(tensors: try SafeTensors.read(path).tensors.filter { !$0.name.hasPrefix("discriminator.period3.") },
                                 metadata: try SafeTensors.read(path).metadata)
        try pruned.write(to: path)
        let third = try VocoderTrainer(configuration: configuration, clips: clips)
        XCTAssertThrowsError(try third.restore(from: try SafeTensors.read(path), path: path)) { error in
            XCTAssertTrue("\(error)".contains("discriminator.period3."), "\(error)")
        }
    }
}
