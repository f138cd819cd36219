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
    /// With classes: z is concatenated with a label embedding before the projection.
    let conditioning: LabelConcatenation?
    let project: Dense
    let norms: [BatchNorm]
    let upsamples: [ConvTranspose2D]

    /// - Parameters:
    ///   - imageSize: B 2^k with k = `widths.count` (the last up-sampling goes to `channels`).
    ///   - classes: > 0 makes the generator conditional on a label in 0..<classes.
    public init(latentSize: Int = 100, channels: Int = 1, imageSize: Int = 64, widths: [Int] = [256, 128, 64, 32],
                kernelSize: Int = 5, classes: Int = 0, random: inout RandomNumbers) {
        baseSize = baseSide(imageSize: imageSize, stages: widths.count)
        self.latentSize = latentSize
        self.widths = widths
        conditioning = classes > 0 ? LabelConcatenation(classes: classes, dimension: min(50, latentSize), random: &random) : nil
        project = Dense(inputs: latentSize + (conditioning?.dimension ?? 0), outputs: widths[0] * baseSize * baseSize,
                        bias: false, random: &random)
        norms = widths.map { BatchNorm(channels: $0) }
        let outputs = Array(widths.dropFirst()) + [channels]
        upsamples = zip(widths, outputs).enumerated().map { index, pair in
            // Layers before a BatchNorm need no bias (BN's beta is one); the last one has it.
            ConvTranspose2D(inputChannels: pair.0, outputChannels: pair.1, kernelSize: kernelSize, stride: 2,
                            padding: kernelSize / 2, outputPadding: 1, bias: index == widths.count - 1, random: &random)
        }
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        var named = (conditioning?.namedParameters ?? []) + prefixed("project", project.namedParameters)
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
        let labels: [Int]?
        var norms: [BatchNorm.Cache] = []
        var upsamples: [ConvTranspose2D.Cache] = []
    }

    /// Images for latents `[N, Z]` (and, for a conditional generator, one label per row).
    public func forward(_ z: Tensor, labels: [Int]? = nil, training: Bool) -> (output: Tensor, cache: Cache) {
        precondition((conditioning == nil) == (labels == nil), "Generator: labels must be given exactly when conditional")
        let input = conditioning.map { $0.forward(z, labels: labels!) } ?? z
        let (projected, projectCache) = project.forward(input)
        var cache = Cache(project: projectCache, labels: labels)
        var h = projected.reshaped([z.shape[0], widths[0], baseSize, baseSize])
        for i in widths.indices {
            let (activated, normCache) = norms[i].forward(h, training: training, activation: .relu)
            // The last layer applies tanh in the same pass.
            let (upsampled, upsampleCache) = upsamples[i].forward(activated, activation: i == widths.count - 1 ? .tanh : nil)
            cache.norms.append(normCache)
            cache.upsamples.append(upsampleCache)
            h = upsampled
        }
        return (h, cache)
    }

    /// Accumulates the parameters' gradients from dL/d(image).
    public func backward(_ dImage: Tensor, cache: Cache) {
        var d = dImage
        for i in widths.indices.reversed() {
            d = upsamples[i].backward(d, cache: cache.upsamples[i])
            d = norms[i].backward(d, cache: cache.norms[i])
        }
        let dInput = project.backward(d.reshaped([d.shape[0], d.count / d.shape[0]]), cache: cache.project)
        if let conditioning, let labels = cache.labels { _ = conditioning.backward(dInput, labels: labels) }
    }

    public var isConditional: Bool { conditioning != nil }
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
    /// With classes: the projection discriminator's label embedding (Miyato & Koyama 2018),
    /// logit = classify(phi) + <E(y), phi> for the features phi.
    let projection: Embedding?

    public init(channels: Int = 1, imageSize: Int = 64, widths: [Int] = [32, 64, 128, 256], kernelSize: Int = 5,
                spectralNorm: Bool = false, classes: Int = 0, random: inout RandomNumbers) {
        let base = baseSide(imageSize: imageSize, stages: widths.count)
        self.widths = widths
        body = DownsamplingStack(channels: channels, widths: widths, kernelSize: kernelSize, random: &random)
        classify = Dense(inputs: widths.last! * base * base, outputs: 1, random: &random)
        let weights = body.convolutions.map(\.weight) + [classify.weight]
        spectralNorms = spectralNorm ? weights.map { SpectralNorm($0, random: &random) } : []
        if classes > 0 {
            let embedding = Embedding(classes: classes, dimension: widths.last! * base * base, random: &random)
            // Small at the start, so that the projection term does not swamp the logit.
            for i in embedding.table.value.values.indices { embedding.table.value.values[i] *= 0.01 }
            projection = embedding
        } else {
            projection = nil
        }
    }

    /// PyTorch's names; with spectral normalisation each "X.weight" is "X.weight_orig" (the
    /// trained tensor) with the power iteration's "X.weight_u" among the buffers.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        let named = body.namedParameters + prefixed("classify", classify.namedParameters)
            + (projection.map { prefixed("projection", $0.namedParameters) } ?? [])
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
        let labels: [Int]?
        /// Each spectral normalisation's sigma, u, v and weight in this forward.
        let spectralNorms: [SpectralNorm.State]
    }

    /// Logits `[N, 1]` (for a conditional discriminator, of each image with its label). With
    /// spectral normalisation, `training` advances the power iteration.
    public func forward(_ image: Tensor, labels: [Int]? = nil, training: Bool = true) -> (output: Tensor, cache: Cache) {
        precondition((projection == nil) == (labels == nil), "Discriminator: labels must be given exactly when conditional")
        let normStates = spectralNorms.map { $0.apply(training: training) }
        let (h, bodyCache) = body.forward(image)
        let features = h.reshaped([h.shape[0], h.count / h.shape[0]])
        var (logits, _) = classify.forward(features)
        if let projection, let labels {
            let (embedded, _) = projection.forward(labels)
            let f = features.shape[1]
            for row in 0..<labels.count {
                var dot: Float = 0
                for j in 0..<f { dot += embedded.values[row * f + j] * features.values[row * f + j] }
                logits.values[row] += dot
            }
        }
        return (logits, Cache(body: bodyCache, features: features, featureShape: h.shape, labels: labels,
                              spectralNorms: normStates))
    }

    /// Returns dL/d(image). With `parameterGradients: false` only the input gradient is
    /// computed (a generator step needs D's input gradient, not D's weight gradients).
    public func backward(_ dLogits: Tensor, cache: Cache, parameterGradients: Bool = true) -> Tensor {
        backward(dLogits, cache: cache, parameterGradients: parameterGradients, inputGradient: true)!
    }

    /// `backward`, without dL/d(image) (nil) when `inputGradient` is false: a discriminator
    /// step needs only the weights' gradients.
    public func backward(_ dLogits: Tensor, cache: Cache, parameterGradients: Bool, inputGradient: Bool) -> Tensor? {
        // The weights this forward ran with (another forward may have run since).
        for (norm, state) in zip(spectralNorms, cache.spectralNorms) { norm.restore(state) }
        var d = classify.backward(dLogits, cache: cache.features, parameterGradients: parameterGradients)
        if let projection, let labels = cache.labels {
            // d phi += dlogit E(y);  dE(y) += dlogit phi
            let (embedded, _) = projection.forward(labels)
            let f = cache.features.shape[1]
            var dEmbedded = Tensor.zeros([labels.count, f])
            for row in 0..<labels.count {
                let g = dLogits.values[row]
                for j in 0..<f {
                    d.values[row * f + j] += g * embedded.values[row * f + j]
                    dEmbedded.values[row * f + j] = g * cache.features.values[row * f + j]
                }
            }
            if parameterGradients { projection.backward(dEmbedded, cache: labels) }
        }
        let dImage = body.backward(d.reshaped(cache.featureShape), cache: cache.body, parameterGradients: parameterGradients,
                                   inputGradient: inputGradient)
        if parameterGradients {
            for (norm, state) in zip(spectralNorms, cache.spectralNorms) { norm.backward(state) }
        }
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
