import FileFormats
import Foundation
import Layers
import Models
import Tensors

/// A trained generative model loaded from a checkpoint, for synthesis: built through
/// `ModelRegistry` from the checkpoint's configuration, with only the modules sampling needs
/// restored (a GAN's generator, a VAE).
public final class TrainedModel {
    public let configuration: TrainingConfiguration
    public let metadata: [String: String]
    let model: any GenerativeModel

    /// Loads `path` (a checkpoint written by `melforge train`).
    public init(checkpoint path: String) throws {
        let file = try SafeTensors.read(path)
        configuration = try TrainingRun.configuration(of: file, path: path)
        metadata = file.metadata
        var unused = RandomNumbers(seed: 0)
        model = ModelRegistry.make(configuration, random: &unused)
        for (prefix, module) in model.samplingModules {
            try Checkpoint.restore(module, prefix: prefix, from: file, path: path)
        }
    }

    /// Whether `encode` works: the model has an encoder (a VAE).
    public var canEncode: Bool { type(of: model).hasEncoder }

    /// Images `[N, C, S, S]` in [-1, 1] for latents `[N, Z]` (and labels for a conditional model).
    public func images(latents: Tensor, labels: [Int]? = nil) -> Tensor {
        model.images(latents: latents, labels: labels)
    }

    /// The latents of images `[N, C, S, S]` in [-1, 1] (a VAE's posterior means); nil for a
    /// model without an encoder.
    public func encode(_ images: Tensor, labels: [Int]? = nil) -> Tensor? {
        model.encode(images, labels: labels)
    }

    /// `count` latents from N(0, 1), each value redrawn while |z| > `truncation` (the
    /// truncation trick: less variety, fewer odd samples); seeded.
    public func latents(count: Int, truncation: Float? = nil, seed: UInt64) -> Tensor {
        var random = RandomNumbers(seed: seed)
        var z = random.normal([count, configuration.latentSize])
        if let truncation {
            for i in z.values.indices { while abs(z.values[i]) > truncation { z.values[i] = random.normal() } }
        }
        return z
    }
}
