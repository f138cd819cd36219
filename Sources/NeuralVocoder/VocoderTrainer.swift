import FileFormats
import Foundation
import Layers
import Optimizers
import Spectral
import Tensors
import Training
import WorkerPool

/// One training clip, prepared once: its samples, its features (dB `[M, F]`, what the vocoder
/// reads), its priors (the NNLS magnitude's logarithm and PGHI's phase of it) and the true
/// STFT's log magnitude and phase (each `[K, F]`, what it is measured against). Clips shorter than a training segment are
/// padded with silence to one.
public struct VocoderClip: Sendable {
    public let name: String
    let samples: [Float]
    /// dB `[M, F]`.
    public let features: Spectrogram
    let logPrior: [Float]
    let phasePrior: [Float]
    let trueLogMagnitude: [Float]
    let truePhase: [Float]

    public var frames: Int { features.frames }
    public var sampleCount: Int { samples.count }
    /// The loudest feature value, in dB.
    public var peakDecibels: Float { features.values.max() ?? 0 }

    public init(name: String, samples: [Float], inversion: FeatureInversion, segmentFrames: Int) throws {
        let frontEnd = inversion.frontEnd
        let hop = frontEnd.configuration.hopLength
        var padded = samples
        let shortest = (segmentFrames - 1) * hop + 1
        if padded.count < shortest { padded += [Float](repeating: 0, count: shortest - padded.count) }
        self.name = name
        self.samples = padded
        features = try frontEnd.features(padded)
        let prior = try inversion.magnitude(fromFeatures: features)
        logPrior = VocoderNetwork.logPrior(prior)
        phasePrior = PhaseGradient(stft: frontEnd.stft).phase(prior)
        let stft = try frontEnd.stft.transform(padded)
        trueLogMagnitude = stft.magnitude().values.map { log(max($0, VocoderNetwork.priorFloor)) }
        truePhase = zip(stft.real, stft.imaginary).map { atan2($0.1, $0.0) }
    }
}

/// Trains a `VocoderNetwork` on segments of clips: each step takes `batchSize` segments of
/// `segmentFrames` frames (clips in a fresh seeded order every epoch, each segment's start
/// drawn from the run's random generator), makes their sound through the inverse STFT and
/// steps Adam on `VocoderLoss`. Resumable: the generator's state, Adam's moments and the step
/// are saved with the weights, so a resumed run continues exactly as the uninterrupted one.
///
/// In a data-parallel job (`Replicas`) each process makes its rows of every batch and the
/// gradients are summed, so N processes compute what one does.
public final class VocoderTrainer {
    public let configuration: LearnedVocoderConfiguration
    public let network: VocoderNetwork
    public let adam: Adam
    public let clips: [VocoderClip]
    let loss: VocoderLoss
    let stft: STFT
    public private(set) var step = 0
    var random: RandomNumbers

    public init(configuration: LearnedVocoderConfiguration, clips: [VocoderClip]) throws {
        precondition(!clips.isEmpty, "VocoderTrainer: no clips")
        self.configuration = configuration
        self.clips = clips
        var weights = RandomNumbers(seed: configuration.seed)
        network = VocoderNetwork(configuration, random: &weights)
        adam = Adam(parameters: network.parameters, learningRate: configuration.learningRate, beta1: 0.8, beta2: 0.99)
        loss = try VocoderLoss(frontEnd: configuration.frontEnd, weights: configuration.weights)
        let f = configuration.frontEnd
        precondition(f.center, "VocoderTrainer: segments need centred frames")
        stft = try STFT(nFFT: f.nFFT, hopLength: f.hopLength, winLength: f.winLength, window: f.window, center: true)
        random = RandomNumbers(seed: configuration.seed &+ 1)
    }

    public var batchesPerEpoch: Int { max(1, clips.count / configuration.batchSize) }

    /// The segments of step `step + 1`: (clip, first frame) for the whole batch, the same on
    /// every process.
    func nextBatch() -> [(clip: Int, start: Int)] {
        let (epoch, index) = (step / batchesPerEpoch, step % batchesPerEpoch)
        var epochOrder = RandomNumbers(seed: configuration.seed ^ (0x5A5A_A5A5_0000_0000 &+ UInt64(epoch)))
        var order = Array(clips.indices)
        epochOrder.shuffle(&order)
        return (0..<configuration.batchSize).map { b in
            let clip = order[(index * configuration.batchSize + b) % order.count]
            let starts = clips[clip].frames - configuration.segmentFrames + 1
            return (clip, min(starts - 1, Int(random.uniform() * Float(starts))))
        }
    }

    /// One step; the losses by name (each the batch's mean) and "loss", their weighted total.
    public func trainStep() throws -> [String: Float] {
        let batch = nextBatch()
        step += 1
        network.zeroGradients()
        let terms = try accumulateGradients(batch)
        Replicas.sumGradients(network.parameters)
        adam.update()
        return terms
    }

    /// The losses of `batch` (segments: clip index, first frame), this process's rows of it,
    /// and their gradients added into the network's parameters.
    public func accumulateGradients(_ batch: [(clip: Int, start: Int)]) throws -> [String: Float] {
        let share = BatchShare.mine(of: batch.count)
        let mine = share.rows(of: batch)
        let (t, k, m, hop) = (configuration.segmentFrames, configuration.bins, configuration.frontEnd.nMels,
                              configuration.frontEnd.hopLength)
        // 1. Each segment's features, prior, true spectrum and sound.
        var features: [Spectrogram] = [], logPrior: [Float] = [], phasePrior: [Float] = []
        var trueLog: [Float] = [], truePhase: [Float] = []
        var targets: [[Float]] = []
        for (index, start) in mine {
            let clip = clips[index]
            let frames = clip.frames
            var segment = [Float](repeating: 0, count: m * t)
            for band in 0..<m { for f in 0..<t { segment[band * t + f] = clip.features.values[band * frames + start + f] } }
            features.append(Spectrogram(bins: m, frames: t, values: segment))
            for bin in 0..<k {
                let row = bin * frames + start
                logPrior += clip.logPrior[row..<(row + t)]
                phasePrior += clip.phasePrior[row..<(row + t)]
                trueLog += clip.trueLogMagnitude[row..<(row + t)]
                truePhase += clip.truePhase[row..<(row + t)]
            }
            // Frames start..<start + t, centred on samples start hop, ..., cover (t - 1) hop samples.
            let first = start * hop
            targets.append((0..<((t - 1) * hop)).map { first + $0 < clip.samples.count ? clip.samples[first + $0] : 0 })
        }
        // 2. The network's spectra, their sound, and every loss's gradient.
        let (spectra, cache) = network.forward(network.input(features), logPrior: logPrior, phasePrior: phasePrior)
        let (loss, stft) = (self.loss, self.stft)
        let (targetSounds, trueLogs, truePhases) = (targets, trueLog, truePhase)
        // Each clip's share of the batch's mean: 1 / batch (a process's rows weigh rows / batch).
        let perClip = share.weight / Float(max(1, mine.count))
        let results = try Workers.each(mine.count) { b -> (terms: [String: Float], dReal: [Float], dImaginary: [Float], dLog: [Float], dPhase: [Float]) in
            let spectrum = spectra.spectrum(b)
            let sound = try stft.inverse(spectrum, length: targetSounds[b].count)
            let (signalTerms, dSound) = try loss.signalTerms(generated: sound, target: targetSounds[b])
            let dSpectrum = stft.inverseAdjoint(dSound, frames: t)
            let range = (b * k * t)..<((b + 1) * k * t)
            let (spectrumTerms, dLog, dPhase) = loss.spectrumTerms(
                logMagnitude: spectra.logMagnitude[range], phase: spectra.phase[range], trueLogMagnitude: trueLogs[range],
                truePhase: truePhases[range], bins: k, frames: t)
            return (signalTerms.merging(spectrumTerms) { $1 }, dSpectrum.real.map { $0 * perClip },
                    dSpectrum.imaginary.map { $0 * perClip }, dLog.map { $0 * perClip }, dPhase.map { $0 * perClip })
        }
        network.backward(dReal: results.flatMap(\.dReal), dImaginary: results.flatMap(\.dImaginary),
                         dLogMagnitude: results.flatMap(\.dLog), dPhase: results.flatMap(\.dPhase), cache: cache)
        // 3. The batch's mean of each term (summed over the processes).
        let names = results.first.map { $0.terms.keys.sorted() } ?? []
        let sums = Replicas.sum(names.map { name in results.reduce(0) { $0 + Double($1.terms[name] ?? 0) } * Double(perClip) })
        var terms = Dictionary(uniqueKeysWithValues: zip(names, sums.map(Float.init)))
        terms["loss"] = loss.total(terms)
        return terms
    }

    // MARK: Checkpoints

    static let format = "melforge-vocoder/1"

    /// Writes weights, Adam's state, the step, the random state, the configuration and `extra`.
    public func save(to path: String, metadata extra: [String: String] = [:]) throws {
        var metadata = extra.merging(RunState.metadata("step", step, random: random)) { $1 }
        metadata["format"] = Self.format
        metadata["vocoder"] = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
        try Checkpoint.save([("vocoder", network)], extra: RunState.optimizerTensors(adam, of: network, prefix: "adam"),
                            metadata: metadata, to: path)
    }

    /// Restores a run `save` wrote onto this one (made with the same configuration).
    public func restore(from file: SafeTensors, path: String) throws {
        let (savedStep, restoredRandom) = try RunState.counter("step", from: file, path: path)
        try Checkpoint.restore(network, prefix: "vocoder", from: file, path: path)
        try RunState.restoreOptimizer(adam, of: network, prefix: "adam", from: file, path: path)
        step = savedStep
        random = restoredRandom
    }

    /// The configuration a vocoder checkpoint was made with; anything else is refused by name.
    public static func configuration(of file: SafeTensors, path: String) throws -> LearnedVocoderConfiguration {
        guard file.metadata["format"] == format, let text = file.metadata["vocoder"] else {
            let what = file.metadata["training"] != nil ? "a generative model's checkpoint" : "not a MelForge vocoder checkpoint"
            throw CheckpointError.unusable(path: path, reason: "\(what), not a learned vocoder ('melforge train vocoder' makes one)")
        }
        do {
            return try JSONDecoder().decode(LearnedVocoderConfiguration.self, from: Data(text.utf8))
        } catch {
            throw CheckpointError.unusable(path: path, reason: "its vocoder configuration cannot be read (\(error))")
        }
    }
}
