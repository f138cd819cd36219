import FileFormats
import Foundation
import Layers
import Models
import Optimizers
import Tensors

/// What a training run trains, and how: everything needed to rebuild it from a checkpoint.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    /// A kind of generative model, by the name users and checkpoints give it; `ModelRegistry`
    /// maps it to the model's type. Encoded as its name ("gan").
    public struct Model: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let gan = Model(rawValue: "gan")
        public static let vae = Model(rawValue: "vae")
        /// Every registered kind.
        public static var allCases: [Model] { ModelRegistry.kinds }
        public var description: String { rawValue }
    }

    public var model: Model
    /// Images `[C, S, S]` the model sees.
    public var channels: Int
    public var imageSize: Int
    public var latentSize: Int
    /// Feature widths from the smallest image outwards (the discriminator's / encoder's order).
    public var widths: [Int]
    public var kernelSize = 5
    public var batchSize: Int
    public var learningRate: Float
    public var beta1: Float = 0.5
    public var beta2: Float = 0.999
    /// The VAE's KL weight.
    public var beta: Float = 1
    /// KL warm-up (Bowman et al. 2016): the VAE's KL weight rises linearly from 0 to `beta` over
    /// this many steps, so that the decoder learns to use the latent before the KL term pulls
    /// the posterior to the prior. nil or 0: `beta` from the first step (and in checkpoints
    /// made before the option existed).
    public var klWarmupSteps: Int? = nil
    /// The GAN's loss; hinge comes with spectral normalisation in the discriminator.
    public var loss = GANLoss.bce
    /// Class names for a conditional model (label i is classes[i]); nil for an unconditional one.
    public var classes: [String]? = nil
    /// The GAN's recipe for small real data (nil: off): an exponential moving average of the
    /// generator's weights with this decay, sampled from and checkpointed (`WeightAverage`);
    /// augmentation of every image the discriminator sees (`SpectrogramAugmentation`); the
    /// discriminator's own learning rate (the two time-scale update rule).
    public var ema: Float? = nil
    /// The average's decay ramps up from 0.18 at the first step to `ema` (`WeightAverage`'s
    /// rampUp); nil (checkpoints made before it existed) or false: `ema` from the first step.
    public var emaRampUp: Bool? = nil
    public var augmentation: SpectrogramAugmentation? = nil
    public var discriminatorLearningRate: Float? = nil
    public var seed: UInt64

    public init(model: Model, channels: Int, imageSize: Int, latentSize: Int, widths: [Int], batchSize: Int,
                learningRate: Float, seed: UInt64) {
        self.model = model
        self.channels = channels
        self.imageSize = imageSize
        self.latentSize = latentSize
        self.widths = widths
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.seed = seed
    }
}

extension TrainingConfiguration {
    /// The VAE's KL weight at a step (counted from 1): beta x min(1, step / klWarmupSteps).
    public func klWeight(atStep step: Int) -> Float {
        guard let warmup = klWarmupSteps, warmup > 0 else { return beta }
        return beta * min(1, Float(step) / Float(warmup))
    }
}

/// A model being trained on a fixed set of images `[N, C, S, S]` in [-1, 1].
///
/// Reproducible and resumable: the batches of epoch e are a permutation drawn from
/// `seed` and e alone, and all other randomness (latents, VAE noise) comes from one
/// generator whose state is saved with the weights and Adam's moments; so a run resumed from
/// a checkpoint continues exactly as the uninterrupted run would have.
public final class TrainingRun {
    public let configuration: TrainingConfiguration
    public let data: Tensor
    /// Each image's class index, for a conditional model.
    public let labels: [Int]?
    public private(set) var step = 0
    var random: RandomNumbers
    public let model: any GenerativeModel

    /// `configuration.model` must be registered (`configuration(of:path:)` checks a checkpoint's).
    public init(configuration: TrainingConfiguration, data: Tensor, labels: [Int]? = nil) {
        precondition(data.rank == 4 && data.shape[1] == configuration.channels && data.shape[2] == configuration.imageSize)
        precondition((configuration.classes == nil) == (labels == nil) && (labels?.count ?? data.shape[0]) == data.shape[0],
                     "TrainingRun: a conditional run needs one label per image")
        self.configuration = configuration
        self.data = data
        self.labels = labels
        var weights = RandomNumbers(seed: configuration.seed)
        model = ModelRegistry.make(configuration, random: &weights)
        random = RandomNumbers(seed: configuration.seed &+ 1)
    }

    public var batchesPerEpoch: Int { max(1, data.shape[0] / configuration.batchSize) }

    /// The losses of one step, by name ("discriminator", "generator" or "reconstruction", "kl").
    /// In a data-parallel job (`Replicas`) this process trains on its rows of the batch, and
    /// every process computes what one process computes on the whole batch.
    public func trainStep() -> [String: Float] {
        let (batch, batchLabels) = nextBatch()
        step += 1
        let share = BatchShare.mine(of: batch.shape[0])
        return model.trainStep(batch: share.rows(of: batch), labels: batchLabels.map { share.rows(of: $0) }, share: share,
                               step: step, random: &random)
    }

    /// The VAE's KL weight at a step (counted from 1).
    public func klWeight(atStep step: Int) -> Float { configuration.klWeight(atStep: step) }

    /// Batch `step` of the run: epoch = step / batchesPerEpoch, its own permutation of the data.
    func nextBatch() -> (Tensor, [Int]?) {
        let (epoch, index) = (step / batchesPerEpoch, step % batchesPerEpoch)
        var epochOrder = RandomNumbers(seed: configuration.seed ^ (0xA5A5_5A5A_0000_0000 &+ UInt64(epoch)))
        var order = Array(0..<data.shape[0])
        epochOrder.shuffle(&order)
        let per = data.count / data.shape[0]
        let size = min(configuration.batchSize, data.shape[0])
        var values = [Float](repeating: 0, count: size * per)
        var batchLabels: [Int] = []
        for b in 0..<size {
            let source = order[(index * configuration.batchSize + b) % order.count]
            for i in 0..<per { values[b * per + i] = data.values[source * per + i] }
            if let labels { batchLabels.append(labels[source]) }
        }
        return (Tensor(shape: [size] + Array(data.shape.dropFirst()), values: values), labels == nil ? nil : batchLabels)
    }

    /// `count` images from the model: the same fixed latents every time, so sample grids show
    /// progress. A conditional model draws image i of class `labels?[i]`, or of class i mod
    /// classes when none are given. Drawn 64 at a time, so that memory does not grow with
    /// `count`; in [-1, 1].
    public func samples(count: Int, labels: [Int]? = nil) -> Tensor {
        var fixed = RandomNumbers(seed: configuration.seed &+ 2)
        let z = fixed.normal([count, configuration.latentSize])
        let classes = configuration.classes?.count ?? 0
        let sampleLabels = classes == 0 ? nil : (labels ?? (0..<count).map { $0 % classes })
        let latentSize = configuration.latentSize
        var values: [Float] = []
        for start in stride(from: 0, to: count, by: 64) {
            let end = min(count, start + 64)
            let batch = Tensor(shape: [end - start, latentSize], values: Array(z.values[(start * latentSize)..<(end * latentSize)]))
            values += model.images(latents: batch, labels: sampleLabels.map { Array($0[start..<end]) }).values
        }
        return Tensor(shape: [count, configuration.channels, configuration.imageSize, configuration.imageSize], values: values)
    }

    // MARK: Checkpoints

    /// Writes weights, buffers, Adam's state, the step, the random state and `extra` metadata.
    public func save(to path: String, metadata extra: [String: String] = [:]) throws {
        let tensors = model.optimizers.flatMap { RunState.optimizerTensors($0.adam, of: $0.module, prefix: $0.prefix) }
        var metadata = extra.merging(RunState.metadata("step", step, random: random)) { $1 }
        metadata["format"] = "melforge-checkpoint/1"
        metadata["training"] = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
        try Checkpoint.save(model.modules, extra: tensors, metadata: metadata, to: path)
    }

    /// Restores a run saved by `save` onto this run (built with the same configuration).
    public func restore(from file: SafeTensors, path: String) throws {
        let (savedStep, restoredRandom) = try RunState.counter("step", from: file, path: path)
        for (prefix, module) in model.modules { try Checkpoint.restore(module, prefix: prefix, from: file, path: path) }
        for (prefix, adam, module) in model.optimizers {
            try RunState.restoreOptimizer(adam, of: module, prefix: prefix, from: file, path: path)
        }
        step = savedStep
        random = restoredRandom
    }

    /// The configuration a checkpoint was made with.
    public static func configuration(of file: SafeTensors, path: String) throws -> TrainingConfiguration {
        guard let text = file.metadata["training"],
              let configuration = try? JSONDecoder().decode(TrainingConfiguration.self, from: Data(text.utf8))
        else { throw CheckpointError.missingTensor(path: path, name: "__metadata__ training (not a MelForge training checkpoint)") }
        do {
            _ = try ModelRegistry.family(configuration.model)
        } catch {
            throw CheckpointError.unusable(path: path, reason: "\(error)")
        }
        // The model is built from the configuration before its weights are read: a damaged or
        // crafted configuration must not make it allocate what the file cannot hold. Every
        // model has at least the convolutions between its widths (a generator's, a decoder's).
        let c = configuration
        let sizes = [c.channels, c.imageSize, c.latentSize, c.kernelSize, c.batchSize] + c.widths
        guard sizes.allSatisfy({ $0 >= 1 && $0 <= 1 << 16 }), !c.widths.isEmpty else {
            throw CheckpointError.unusable(path: path, reason: "its configuration has a size out of range (channels \(c.channels), image \(c.imageSize), latent \(c.latentSize), kernel \(c.kernelSize), widths \(c.widths))")
        }
        let kernel = Double(c.kernelSize * c.kernelSize)
        let layers = zip([c.channels] + c.widths, c.widths).reduce(0.0) { $0 + Double($1.0) * Double($1.1) * kernel }
        let stored = Double(file.tensors.reduce(0) { $0 + $1.values.count })
        guard layers <= stored else {
            throw CheckpointError.unusable(path: path, reason: "its configuration describes at least \(Int(layers)) weights but it holds \(Int(stored)) values")
        }
        return configuration
    }
}
