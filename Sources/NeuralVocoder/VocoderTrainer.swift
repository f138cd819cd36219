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
    /// The discriminators and their optimizer, when the configuration has an adversarial part.
    public let discriminators: Discriminators?
    let discriminatorAdam: Adam?
    /// What it trains on.
    public let corpus: VocoderCorpus
    let loss: VocoderLoss
    let stft: STFT
    public private(set) var step = 0
    var random: RandomNumbers

    /// A trainer of clips held in memory.
    public convenience init(configuration: LearnedVocoderConfiguration, clips: [VocoderClip]) throws {
        try self.init(configuration: configuration, corpus: VocoderClips(clips))
    }

    public init(configuration: LearnedVocoderConfiguration, corpus: VocoderCorpus) throws {
        precondition(corpus.count > 0, "VocoderTrainer: no clips")
        self.configuration = configuration
        self.corpus = corpus
        var weights = RandomNumbers(seed: configuration.seed)
        network = VocoderNetwork(configuration, random: &weights)
        adam = Adam(parameters: network.parameters, learningRate: configuration.learningRate, beta1: 0.8, beta2: 0.99)
        // The discriminators draw from their own generator: the vocoder's weights are the
        // same with and without them.
        if let adversarial = configuration.adversarial {
            var own = RandomNumbers(seed: configuration.seed &+ 2)
            let made = try Discriminators(adversarial, random: &own)
            discriminators = made
            discriminatorAdam = Adam(parameters: made.parameters, learningRate: adversarial.learningRate, beta1: 0.8, beta2: 0.99)
        } else {
            (discriminators, discriminatorAdam) = (nil, nil)
        }
        loss = try VocoderLoss(frontEnd: configuration.frontEnd, weights: configuration.weights)
        let f = configuration.frontEnd
        precondition(f.center, "VocoderTrainer: segments need centred frames")
        stft = try STFT(nFFT: f.nFFT, hopLength: f.hopLength, winLength: f.winLength, window: f.window, center: true)
        random = RandomNumbers(seed: configuration.seed &+ 1)
    }

    public var batchesPerEpoch: Int { max(1, corpus.count / configuration.batchSize) }

    /// The segments of step `step + 1`: (clip, first frame) for the whole batch, the same on
    /// every process.
    func nextBatch() -> [(clip: Int, start: Int)] {
        let (epoch, index) = (step / batchesPerEpoch, step % batchesPerEpoch)
        var epochOrder = RandomNumbers(seed: configuration.seed ^ (0x5A5A_A5A5_0000_0000 &+ UInt64(epoch)))
        var order = Array(0..<corpus.count)
        epochOrder.shuffle(&order)
        return (0..<configuration.batchSize).map { b in
            let clip = order[(index * configuration.batchSize + b) % order.count]
            let starts = corpus.frames(clip) - configuration.segmentFrames + 1
            return (clip, min(starts - 1, Int(random.uniform() * Float(starts))))
        }
    }

    /// One step; the losses by name (each the batch's mean) and "loss", their weighted total.
    public func trainStep() throws -> [String: Float] {
        let batch = nextBatch()
        step += 1
        network.zeroGradients()
        discriminators?.zeroGradients()
        let terms = try accumulateGradients(batch)
        Replicas.sumGradients(network.parameters)
        adam.update()
        if let discriminators, let discriminatorAdam {
            Replicas.sumGradients(discriminators.parameters)
            discriminatorAdam.update()
        }
        return terms
    }

    /// The losses of `batch` (segments: clip index, first frame), this process's rows of it,
    /// and their gradients added into the network's parameters.
    public func accumulateGradients(_ batch: [(clip: Int, start: Int)]) throws -> [String: Float] {
        let share = BatchShare.mine(of: batch.count)
        let mine = share.rows(of: batch)
        let (t, k, m, hop) = (configuration.segmentFrames, configuration.bins, configuration.frontEnd.nMels,
                              configuration.frontEnd.hopLength)
        // 1. Each segment's features, prior, true spectrum and sound (read on the workers: from
        // memory, or from the disk cache).
        let corpus = self.corpus
        let segments = try Workers.each(mine.count) { try corpus.segment(mine[$0].clip, start: mine[$0].start, frames: t, hop: hop) }
        let features = segments.map { Spectrogram(bins: m, frames: t, values: $0.features) }
        let logPrior = segments.flatMap(\.logPrior), phasePrior = segments.flatMap(\.phasePrior)
        let trueLog = segments.flatMap(\.trueLogMagnitude), truePhase = segments.flatMap(\.truePhase)
        let targets = segments.map(\.samples)
        // 2. The network's spectra, their sound, and every loss's gradient.
        let (spectra, cache) = network.forward(network.input(features), logPrior: logPrior, phasePrior: phasePrior)
        let (loss, stft) = (self.loss, self.stft)
        let (targetSounds, trueLogs, truePhases) = (targets, trueLog, truePhase)
        // Each clip's share of the batch's mean: 1 / batch (a process's rows weigh rows / batch).
        let perClip = share.weight / Float(max(1, mine.count))
        let sounds = try Workers.each(mine.count) { b in try stft.inverse(spectra.spectrum(b), length: targetSounds[b].count) }
        // The discriminators' step, and their gradient on each sound.
        var adversarialTerms: [String: Float] = [:]
        var dAdversarial: [[Float]]?
        if let discriminators, !sounds.isEmpty {
            let length = sounds[0].count
            let (terms, dMade) = try discriminators.step(made: Tensor(shape: [sounds.count, length], values: sounds.flatMap { $0 }),
                                                         real: Tensor(shape: [sounds.count, length], values: targetSounds.flatMap { $0 }),
                                                         weight: perClip)
            adversarialTerms = terms
            dAdversarial = (0..<sounds.count).map { Array(dMade.values[($0 * length)..<(($0 + 1) * length)]) }
        }
        let adversarialGradients = dAdversarial
        let results = try Workers.each(mine.count) { b -> (terms: [String: Float], dReal: [Float], dImaginary: [Float], dLog: [Float], dPhase: [Float]) in
            var (signalTerms, dSound) = try loss.signalTerms(generated: sounds[b], target: targetSounds[b])
            if let adversarialGradients { dSound.add(adversarialGradients[b]) }
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
        if let adversarial = configuration.adversarial {
            // Already weighted sums over this process's rows (the same names on every process,
            // one with no rows too: the sum is collective).
            let names = ["adv", "disc", "fm"]
            for (name, value) in zip(names, Replicas.sum(names.map { Double(adversarialTerms[$0] ?? 0) })) { terms[name] = Float(value) }
            terms["loss"]! += adversarial.adversarialWeight * (terms["adv"] ?? 0) + adversarial.featureWeight * (terms["fm"] ?? 0)
        }
        return terms
    }

    // MARK: Checkpoints

    static let format = "melforge-vocoder/1"

    /// Writes weights, Adam's state, the step, the random state, the configuration and `extra`.
    public func save(to path: String, metadata extra: [String: String] = [:]) throws {
        var metadata = extra.merging(RunState.metadata("step", step, random: random)) { $1 }
        metadata["format"] = Self.format
        metadata["vocoder"] = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
        var modules: [(prefix: String, module: Module)] = [("vocoder", network)]
        var extra = RunState.optimizerTensors(adam, of: network, prefix: "adam")
        if let discriminators, let discriminatorAdam {
            modules.append(("discriminator", discriminators))
            extra += RunState.optimizerTensors(discriminatorAdam, of: discriminators, prefix: "adam_discriminator")
        }
        try Checkpoint.save(modules, extra: extra, metadata: metadata, to: path)
    }

    /// Restores a run `save` wrote onto this one (made with the same configuration, or with
    /// `freshDiscriminators` the same but for discriminators the file does not hold: they
    /// start as made).
    public func restore(from file: SafeTensors, path: String, freshDiscriminators: Bool = false) throws {
        let (savedStep, restoredRandom) = try RunState.counter("step", from: file, path: path)
        try Checkpoint.restore(network, prefix: "vocoder", from: file, path: path)
        try RunState.restoreOptimizer(adam, of: network, prefix: "adam", from: file, path: path)
        if let discriminators, let discriminatorAdam, !freshDiscriminators {
            try Checkpoint.restore(discriminators, prefix: "discriminator", from: file, path: path)
            try RunState.restoreOptimizer(discriminatorAdam, of: discriminators, prefix: "adam_discriminator", from: file, path: path)
        }
        step = savedStep
        random = restoredRandom
    }

    /// The configuration a vocoder checkpoint was made with; anything else is refused by name.
    public static func configuration(of file: SafeTensors, path: String) throws -> LearnedVocoderConfiguration {
        guard file.metadata["format"] == format, let text = file.metadata["vocoder"] else {
            let what = file.metadata["training"] != nil ? "a generative model's checkpoint" : "not a MelForge vocoder checkpoint"
            throw CheckpointError.unusable(path: path, reason: "\(what), not a learned vocoder ('melforge train vocoder' makes one)")
        }
        let c: LearnedVocoderConfiguration
        do {
            c = try JSONDecoder().decode(LearnedVocoderConfiguration.self, from: Data(text.utf8))
        } catch {
            throw CheckpointError.unusable(path: path, reason: "its vocoder configuration cannot be read (\(error))")
        }
        // The networks are built from the configuration before their weights are read: a damaged
        // or crafted one must not make them allocate what the file cannot hold. The vocoder has
        // at least its blocks' two pointwise layers and its head; the discriminators (when the
        // file holds them) at least their layers' kernels.
        let sizes = [c.width, c.hiddenWidth, c.blocks, c.kernelSize, c.segmentFrames, c.batchSize, c.frontEnd.nFFT, c.frontEnd.nMels]
            + (c.adversarial.map { $0.periods + $0.periodChannels + $0.resolutions + [$0.resolutionChannels] } ?? [])
        guard sizes.allSatisfy({ $0 >= 1 && $0 <= 1 << 16 }), c.adversarial.map({ $0.periods.count + $0.resolutions.count <= 64 }) ?? true else {
            throw CheckpointError.unusable(path: path, reason: "its vocoder configuration has a size out of range (\(sizes.map(String.init).joined(separator: ", ")))")
        }
        // Its speeds say how many copies of each clip a resumed run prepares.
        guard (c.speeds ?? []).allSatisfy({ (0.5...2).contains($0) }), (c.speeds?.count ?? 0) <= LearnedVocoderConfiguration.maxSpeeds else {
            throw CheckpointError.unusable(path: path, reason: "its speeds \(c.speeds ?? []) are out of range (at most \(LearnedVocoderConfiguration.maxSpeeds), each 0.5 to 2)")
        }
        var least = Double(c.blocks) * 2 * Double(c.width) * Double(c.hiddenWidth) + Double(c.width) * 3 * Double(c.bins)
        if let a = c.adversarial, file.tensors.contains(where: { $0.name.hasPrefix("discriminator.") }) {
            let period = zip([1] + a.periodChannels, a.periodChannels).reduce(0.0) { $0 + Double($1.0) * Double($1.1) * 5 }
            least += Double(a.periods.count) * period + Double(a.resolutions.count) * Double(a.resolutionChannels * a.resolutionChannels) * 9
        }
        let stored = Double(file.tensors.reduce(0) { $0 + $1.values.count })
        guard least <= stored else {
            throw CheckpointError.unusable(path: path, reason: "its vocoder configuration describes at least \(Int(least)) weights but it holds \(Int(stored)) values")
        }
        return c
    }
}
