import FileFormats
import Foundation
import Layers
import Models
import Tensors

/// A trained generator (a GAN's generator or a VAE's decoder) loaded from a checkpoint, for
/// synthesis: only the weights that draw images are restored.
public final class TrainedModel {
    public let configuration: TrainingConfiguration
    public let metadata: [String: String]
    let generator: Generator?
    let vae: ConvVAE?

    /// Loads `path` (a checkpoint written by `melforge train`).
    public init(checkpoint path: String) throws {
        let file = try SafeTensors.read(path)
        configuration = try TrainingRun.configuration(of: file, path: path)
        metadata = file.metadata
        var unused = RandomNumbers(seed: 0)
        let c = configuration
        let classes = c.classes?.count ?? 0
        switch c.model {
        case .gan:
            let generator = Generator(latentSize: c.latentSize, channels: c.channels, imageSize: c.imageSize,
                                      widths: c.widths.reversed(), kernelSize: c.kernelSize, classes: classes, random: &unused)
            try Checkpoint.restore(generator, prefix: "generator", from: file, path: path)
            self.generator = generator
            vae = nil
        case .vae:
            let vae = ConvVAE(latentSize: c.latentSize, channels: c.channels, imageSize: c.imageSize, widths: c.widths,
                              kernelSize: c.kernelSize, classes: classes, random: &unused)
            try Checkpoint.restore(vae, prefix: "vae", from: file, path: path)
            self.vae = vae
            generator = nil
        }
    }

    /// Images `[N, C, S, S]` in [-1, 1] for latents `[N, Z]` (and labels for a conditional model).
    /// The VAE's decoder is linear, so its output is clamped to the range the data had.
    public func images(latents: Tensor, labels: [Int]? = nil) -> Tensor {
        if let generator { return generator.forward(latents, labels: labels, training: false).output }
        return clampedToUnitRange(vae!.decode(latents, labels: labels).output)
    }

    /// The VAE's posterior means for images `[N, C, S, S]` in [-1, 1]; nil for a GAN, which has
    /// no encoder.
    public func encode(_ images: Tensor, labels: [Int]? = nil) -> Tensor? {
        vae?.encode(images, labels: labels).mean
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

/// `images` with every value clamped to [-1, 1], the range training data are normalised to.
func clampedToUnitRange(_ images: Tensor) -> Tensor {
    Tensor(shape: images.shape, values: images.values.map { min(1, max(-1, $0)) })
}
