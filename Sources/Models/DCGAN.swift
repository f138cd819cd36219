import Layers
import Tensors

// Dimension letters: N batch, Z latent size, C image channels, S image size (S x S).

/// The DCGAN generator (Radford, Metz & Chintala 2016): z `[N, Z]` -> Dense -> `[N, W0, B, B]`
/// -> (BatchNorm, ReLU, transposed conv doubling the size) ... -> tanh image `[N, C, S, S]`,
/// S = B 2^k for k widths (B = 4 for 64x64 mel images, 7 for 28x28 MNIST digits).
/// With the defaults it is ../shared/bench/bench_train.py's generator (1,486,561 parameters):
/// widths 256, 128, 64, 32, kernel 5, S = 64.
public final class Generator: Module {
    public let latentSize: Int
    public let widths: [Int]
    /// B, the side of the first feature map.
    public let baseSize: Int
    let project: Dense
    let norms: [BatchNorm]
    let upsamples: [ConvTranspose2D]

    /// - Parameters:
    ///   - imageSize: B 2^k with k = `widths.count` (the last up-sampling goes to `channels`).
    public init(latentSize: Int = 100, channels: Int = 1, imageSize: Int = 64, widths: [Int] = [256, 128, 64, 32],
                kernelSize: Int = 5, random: inout RandomNumbers) {
        baseSize = baseSide(imageSize: imageSize, stages: widths.count)
        self.latentSize = latentSize
        self.widths = widths
        project = Dense(inputs: latentSize, outputs: widths[0] * baseSize * baseSize, bias: false, random: &random)
        norms = widths.map { BatchNorm(channels: $0) }
        let outputs = Array(widths.dropFirst()) + [channels]
        upsamples = zip(widths, outputs).enumerated().map { index, pair in
            // Layers before a BatchNorm need no bias (BN's beta is one); the last one has it.
            ConvTranspose2D(inputChannels: pair.0, outputChannels: pair.1, kernelSize: kernelSize, stride: 2,
                            padding: kernelSize / 2, outputPadding: 1, bias: index == widths.count - 1, random: &random)
        }
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        var named = prefixed("project", project.namedParameters)
        for i in widths.indices {
            named += prefixed("bn\(i + 1)", norms[i].namedParameters)
            named += prefixed("deconv\(i + 1)", upsamples[i].namedParameters)
        }
        return named
    }

    public var namedBuffers: [(name: String, parameter: Parameter)] {
        widths.indices.flatMap { prefixed("bn\($0 + 1)", norms[$0].namedBuffers) }
    }

    public struct Cache {
        let project: Tensor
        var norms: [BatchNorm.Cache] = []
        var activations: [Tensor] = []
        var upsamples: [ConvTranspose2D.Cache] = []
        var output: Tensor? = nil
    }

    public func forward(_ z: Tensor, training: Bool) -> (output: Tensor, cache: Cache) {
        let (projected, projectCache) = project.forward(z)
        var cache = Cache(project: projectCache)
        var h = projected.reshaped([z.shape[0], widths[0], baseSize, baseSize])
        for i in widths.indices {
            let (normalized, normCache) = norms[i].forward(h, training: training)
            let (activated, activationCache) = Activation.relu(normalized)
            let (upsampled, upsampleCache) = upsamples[i].forward(activated)
            cache.norms.append(normCache)
            cache.activations.append(activationCache)
            cache.upsamples.append(upsampleCache)
            h = upsampled
        }
        let (image, tanhCache) = Activation.tanh(h)
        cache.output = tanhCache
        return (image, cache)
    }

    /// Accumulates the parameters' gradients from dL/d(image).
    public func backward(_ dImage: Tensor, cache: Cache) {
        var d = Activation.tanhBackward(dImage, cache: cache.output!)
        for i in widths.indices.reversed() {
            d = upsamples[i].backward(d, cache: cache.upsamples[i])
            d = Activation.reluBackward(d, cache: cache.activations[i])
            d = norms[i].backward(d, cache: cache.norms[i])
        }
        _ = project.backward(d.reshaped([d.shape[0], d.count / d.shape[0]]), cache: cache.project)
    }
}

/// The DCGAN discriminator: image `[N, C, S, S]` -> (conv halving the size, LeakyReLU 0.2) ...
/// -> flatten -> Dense -> one logit per image `[N, 1]`; no BatchNorm. With the defaults it is
/// the reference benchmark's (1,080,577 parameters).
public final class Discriminator: Module {
    public let widths: [Int]
    let body: DownsamplingStack
    let classify: Dense
    /// One per convolution then the dense layer, when built with `spectralNorm` (Miyato et
    /// al. 2018: keeps D 1-Lipschitz, what makes hinge-loss GANs train stably); else empty.
    let spectralNorms: [SpectralNorm]

    public init(channels: Int = 1, imageSize: Int = 64, widths: [Int] = [32, 64, 128, 256], kernelSize: Int = 5,
                spectralNorm: Bool = false, random: inout RandomNumbers) {
        let base = baseSide(imageSize: imageSize, stages: widths.count)
        self.widths = widths
        body = DownsamplingStack(channels: channels, widths: widths, kernelSize: kernelSize, random: &random)
        classify = Dense(inputs: widths.last! * base * base, outputs: 1, random: &random)
        let weights = body.convolutions.map(\.weight) + [classify.weight]
        spectralNorms = spectralNorm ? weights.map { SpectralNorm($0, random: &random) } : []
    }

    /// PyTorch's names; with spectral normalisation each "X.weight" is "X.weight_orig" (the
    /// trained tensor) with the power iteration's "X.weight_u" among the buffers.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        let named = body.namedParameters + prefixed("classify", classify.namedParameters)
        guard !spectralNorms.isEmpty else { return named }
        return named.map { entry in
            guard let norm = spectralNorms.first(where: { $0.target === entry.parameter }) else { return entry }
            return (entry.name + "_orig", norm.original)
        }
    }

    public var namedBuffers: [(name: String, parameter: Parameter)] {
        let names = body.namedParameters.map(\.name).filter { $0.hasSuffix(".weight") } + ["classify.weight"]
        return zip(names, spectralNorms).map { ($0 + "_u", $1.u) }
    }

    public struct Cache {
        let body: DownsamplingStack.Cache
        let features: Tensor
        let featureShape: [Int]
    }

    /// Logits `[N, 1]`. With spectral normalisation, `training` advances the power iteration.
    public func forward(_ image: Tensor, training: Bool = true) -> (output: Tensor, cache: Cache) {
        for norm in spectralNorms { norm.apply(training: training) }
        let (h, bodyCache) = body.forward(image)
        let features = h.reshaped([h.shape[0], h.count / h.shape[0]])
        let (logits, _) = classify.forward(features)
        return (logits, Cache(body: bodyCache, features: features, featureShape: h.shape))
    }

    /// Returns dL/d(image). With `parameterGradients: false` only the input gradient is
    /// computed (a generator step needs D's input gradient, not D's weight gradients).
    public func backward(_ dLogits: Tensor, cache: Cache, parameterGradients: Bool = true) -> Tensor {
        let d = classify.backward(dLogits, cache: cache.features, parameterGradients: parameterGradients)
        let dImage = body.backward(d.reshaped(cache.featureShape), cache: cache.body, parameterGradients: parameterGradients)
        if parameterGradients { for norm in spectralNorms { norm.backward() } }
        return dImage
    }
}

extension Generator {
    /// Forward multiply-adds x 2 for one sample (dense and transposed convolutions only;
    /// BatchNorm and activations are not counted), as the reference benchmark counts.
    public var forwardFLOPsPerSample: Int {
        var macs = project.inputs * project.outputs
        var size = baseSize
        for deconv in upsamples {
            macs += size * size * deconv.weight.value.shape[0] * deconv.weight.value.shape[1] * deconv.weight.value.shape[2] * deconv.weight.value.shape[3]
            size *= 2
        }
        return 2 * macs
    }
}

extension Discriminator {
    /// Forward multiply-adds x 2 for one `imageSize` image (convolutions and the dense layer).
    public func forwardFLOPsPerSample(imageSize: Int) -> Int {
        body.forwardFLOPsPerSample(imageSize: imageSize) + 2 * classify.inputs * classify.outputs
    }
}

/// B for an image of side S = B 2^stages; B must be a whole number of at least 2.
func baseSide(imageSize: Int, stages: Int) -> Int {
    let base = imageSize >> stages
    precondition(base >= 2 && base << stages == imageSize,
                 "image size \(imageSize) is not B * 2^\(stages) with B >= 2 (e.g. \(4 << stages) or \(7 << stages))")
    return base
}
