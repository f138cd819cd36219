import Layers
import Models
import Optimizers
import Synchronization
import Tensors

/// A generative model of images `[N, C, S, S]` in [-1, 1]: the GAN, the VAE, and whatever is
/// registered next. Training (`TrainingRun`) and loading (`TrainedModel`) know models only
/// through this protocol and `ModelRegistry`, so a new model is one new conformer and one
/// `ModelRegistry.register` line.
public protocol GenerativeModel: AnyObject {
    /// The name users give it (`melforge train NAME`) and checkpoints record.
    static var kind: TrainingConfiguration.Model { get }
    /// The latent size when the user names none.
    static var defaultLatentSize: Int { get }
    /// Whether `encode` gives latents for images (a VAE's encoder).
    static var hasEncoder: Bool { get }

    /// Builds the model `configuration` describes, its weights drawn from `random`.
    init(configuration: TrainingConfiguration, random: inout RandomNumbers)

    /// One optimisation step on `batch` `[n, C, S, S]` (with one label per image for a
    /// conditional model): this process's `share` of the whole batch, which is all of it in
    /// one process (`BatchShare`, `Replicas`: a data-parallel model draws its random numbers for
    /// the whole batch, weighs its means by the share and sums its gradients over the processes
    /// before updating). `step` counts from 1. Returns the whole batch's losses by name.
    func trainStep(batch: Tensor, labels: [Int]?, share: BatchShare, step: Int, random: inout RandomNumbers) -> [String: Float]

    /// Images `[N, C, S, S]` in [-1, 1] for latents `[N, Z]` (inference mode).
    func images(latents: Tensor, labels: [Int]?) -> Tensor

    /// The latents `[N, Z]` of images, for a model with an encoder; nil otherwise.
    func encode(_ images: Tensor, labels: [Int]?) -> Tensor?

    /// Every module a checkpoint holds, by tensor-name prefix.
    var modules: [(prefix: String, module: Module)] { get }
    /// Every optimizer with the module it updates, by tensor-name prefix.
    var optimizers: [(prefix: String, adam: Adam, module: Module)] { get }
    /// The modules sampling needs: all that a model loaded for synthesis restores.
    var samplingModules: [(prefix: String, module: Module)] { get }
}

extension GenerativeModel {
    public static var hasEncoder: Bool { false }
    public func encode(_ images: Tensor, labels: [Int]?) -> Tensor? { nil }
}

/// The generative models by kind: the one table training and loading share.
public enum ModelRegistry {
    /// A registered type (types are immutable: sharing one between threads is safe).
    private struct Family: @unchecked Sendable {
        let type: any GenerativeModel.Type
    }

    private static let families = Mutex<[TrainingConfiguration.Model: Family]>(
        [GANModel.kind: Family(type: GANModel.self), VAEModel.kind: Family(type: VAEModel.self)])

    /// Makes `type` trainable and loadable under its `kind`.
    public static func register(_ type: any GenerativeModel.Type) {
        let family = Family(type: type)
        families.withLock { $0[type.kind] = family }
    }

    /// The registered kinds, sorted by name.
    public static var kinds: [TrainingConfiguration.Model] {
        families.withLock { Array($0.keys) }.sorted { $0.rawValue < $1.rawValue }
    }

    /// The model type of `kind`; an unknown kind is an error that lists the known ones.
    public static func family(_ kind: TrainingConfiguration.Model) throws -> any GenerativeModel.Type {
        guard let family = families.withLock({ $0[kind] }) else { throw UnknownModelError(kind: kind, known: kinds) }
        return family.type
    }

    /// A new model of `configuration`'s kind, which must be registered (`family` checks).
    public static func make(_ configuration: TrainingConfiguration, random: inout RandomNumbers) -> any GenerativeModel {
        guard let family = families.withLock({ $0[configuration.model] }) else {
            preconditionFailure("ModelRegistry: no model '\(configuration.model)' is registered")
        }
        return family.type.init(configuration: configuration, random: &random)
    }
}

public struct UnknownModelError: Error, CustomStringConvertible {
    public var kind: TrainingConfiguration.Model
    public var known: [TrainingConfiguration.Model]
    public var description: String {
        "model '\(kind.rawValue)' is not one MelForge knows; expected one of \(known.map(\.rawValue).joined(separator: ", "))"
    }
}

// MARK: - The GAN

/// The DCGAN pair (`Generator`, `Discriminator`) trained by `GANTrainer`; hinge loss comes with
/// spectral normalisation in the discriminator.
public final class GANModel: GenerativeModel {
    public static let kind = TrainingConfiguration.Model.gan
    public static let defaultLatentSize = 100

    let configuration: TrainingConfiguration
    let trainer: GANTrainer
    /// The generator's weight average, when the configuration asks for one: it makes the
    /// samples and is checkpointed as "generator_ema".
    let average: WeightAverage?
    var sampler: Generator { (average?.average as? Generator) ?? trainer.generator }

    public init(configuration c: TrainingConfiguration, random: inout RandomNumbers) {
        configuration = c
        let classes = c.classes?.count ?? 0
        let generator = Generator(latentSize: c.latentSize, channels: c.channels, imageSize: c.imageSize,
                                  widths: c.widths.reversed(), kernelSize: c.kernelSize, classes: classes, random: &random)
        let discriminator = Discriminator(channels: c.channels, imageSize: c.imageSize, widths: c.widths,
                                          kernelSize: c.kernelSize, spectralNorm: c.loss == .hinge, classes: classes,
                                          random: &random)
        trainer = GANTrainer(generator: generator, discriminator: discriminator, loss: c.loss,
                             learningRate: c.learningRate, discriminatorLearningRate: c.discriminatorLearningRate,
                             beta1: c.beta1, beta2: c.beta2, augmentation: c.augmentation)
        // The average's own weights are overwritten by the generator's at once: drawn from a
        // generator of their own, so that the run's random numbers are as without one.
        var unused = RandomNumbers(seed: 0)
        average = c.ema.map { decay in
            WeightAverage(of: generator, into: Generator(latentSize: c.latentSize, channels: c.channels, imageSize: c.imageSize,
                                                         widths: c.widths.reversed(), kernelSize: c.kernelSize, classes: classes,
                                                         random: &unused), decay: decay, rampUp: c.emaRampUp ?? false)
        }
    }

    public func trainStep(batch: Tensor, labels: [Int]?, share: BatchShare, step: Int,
                          random: inout RandomNumbers) -> [String: Float] {
        let (d, g) = trainer.step(real: batch, labels: labels, classes: configuration.classes?.count ?? 0, share: share,
                                  random: &random)
        average?.update(step: step)
        return ["discriminator": d, "generator": g]
    }

    /// From the weight average when there is one.
    public func images(latents: Tensor, labels: [Int]?) -> Tensor {
        sampler.forward(latents, labels: labels, training: false).output
    }

    public var modules: [(prefix: String, module: Module)] {
        [("generator", trainer.generator), ("discriminator", trainer.discriminator)]
            + (average.map { [("generator_ema", $0.average)] } ?? [])
    }

    public var optimizers: [(prefix: String, adam: Adam, module: Module)] {
        [("optimizer.generator", trainer.generatorOptimizer, trainer.generator),
         ("optimizer.discriminator", trainer.discriminatorOptimizer, trainer.discriminator)]
    }

    public var samplingModules: [(prefix: String, module: Module)] {
        average.map { [("generator_ema", $0.average)] } ?? [("generator", trainer.generator)]
    }
}

// MARK: - The VAE

/// The convolutional VAE trained by `VAETrainer`, with the KL warm-up of its configuration.
public final class VAEModel: GenerativeModel {
    public static let kind = TrainingConfiguration.Model.vae
    public static let defaultLatentSize = 64
    public static let hasEncoder = true

    let configuration: TrainingConfiguration
    let trainer: VAETrainer

    public init(configuration c: TrainingConfiguration, random: inout RandomNumbers) {
        configuration = c
        trainer = VAETrainer(model: ConvVAE(latentSize: c.latentSize, channels: c.channels, imageSize: c.imageSize,
                                            widths: c.widths, kernelSize: c.kernelSize, classes: c.classes?.count ?? 0,
                                            random: &random),
                             learningRate: c.learningRate, beta1: c.beta1, beta2: c.beta2, beta: c.beta)
    }

    public func trainStep(batch: Tensor, labels: [Int]?, share: BatchShare, step: Int,
                          random: inout RandomNumbers) -> [String: Float] {
        trainer.beta = configuration.klWeight(atStep: step)
        let (reconstruction, kl) = trainer.step(images: batch, labels: labels, share: share, random: &random)
        return ["reconstruction": reconstruction, "kl": kl]
    }

    /// The decoder is linear, so its output is clamped to the range the data had.
    public func images(latents: Tensor, labels: [Int]?) -> Tensor {
        clampedToUnitRange(trainer.model.decode(latents, labels: labels).output)
    }

    public func encode(_ images: Tensor, labels: [Int]?) -> Tensor? {
        trainer.model.encode(images, labels: labels).mean
    }

    public var modules: [(prefix: String, module: Module)] { [("vae", trainer.model)] }

    public var optimizers: [(prefix: String, adam: Adam, module: Module)] {
        [("optimizer.vae", trainer.optimizer, trainer.model)]
    }

    public var samplingModules: [(prefix: String, module: Module)] { modules }
}

/// `images` with every value clamped to [-1, 1], the range training data are normalised to.
func clampedToUnitRange(_ images: Tensor) -> Tensor {
    Tensor(shape: images.shape, values: images.values.map { min(1, max(-1, $0)) })
}
