import Layers
import Tensors

/// A convolutional VAE (Kingma & Welling 2014): encoder (strided convs + LeakyReLU 0.2) ->
/// flatten -> Dense to mu and to log-variance `[N, L]`; decoder Dense `[N, L]` ->
/// `[N, W, B, B]` -> ReLU -> transposed convs doubling the size (ReLU between) -> linear
/// image. With the defaults it is ../shared/bench/bench_train.py's VAE (2,943,361 parameters).
public final class ConvVAE: Module {
    public let latentSize: Int
    public let widths: [Int]
    /// B, the side of the smallest feature map (S = B 2^k).
    public let baseSize: Int
    let encoder: DownsamplingStack
    /// With classes: the label's embedding joins the encoder's features and the latent.
    let encoderConditioning: LabelConcatenation?
    let decoderConditioning: LabelConcatenation?
    let mean: Dense
    let logVariance: Dense
    let expand: Dense
    let decoder: [ConvTranspose2D]

    public init(latentSize: Int = 64, channels: Int = 1, imageSize: Int = 64, widths: [Int] = [32, 64, 128, 256],
                kernelSize: Int = 5, classes: Int = 0, random: inout RandomNumbers) {
        baseSize = baseSide(imageSize: imageSize, stages: widths.count)
        self.latentSize = latentSize
        self.widths = widths
        encoder = DownsamplingStack(channels: channels, widths: widths, kernelSize: kernelSize, random: &random)
        let features = widths.last! * baseSize * baseSize
        let labelSize = min(50, latentSize)
        encoderConditioning = classes > 0 ? LabelConcatenation(classes: classes, dimension: labelSize, random: &random) : nil
        decoderConditioning = classes > 0 ? LabelConcatenation(classes: classes, dimension: labelSize, random: &random) : nil
        let extra = classes > 0 ? labelSize : 0
        mean = Dense(inputs: features + extra, outputs: latentSize, random: &random)
        logVariance = Dense(inputs: features + extra, outputs: latentSize, random: &random)
        expand = Dense(inputs: latentSize + extra, outputs: features, random: &random)
        let reversed = Array(widths.reversed())
        decoder = zip(reversed, Array(reversed.dropFirst()) + [channels]).map {
            ConvTranspose2D(inputChannels: $0, outputChannels: $1, kernelSize: kernelSize, stride: 2,
                            padding: kernelSize / 2, outputPadding: 1, random: &random)
        }
    }

    public var isConditional: Bool { decoderConditioning != nil }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        prefixed("encoder", encoder.namedParameters)
            + (encoderConditioning.map { prefixed("encoder", $0.namedParameters) } ?? [])
            + prefixed("encoder.mean", mean.namedParameters)
            + prefixed("encoder.log_variance", logVariance.namedParameters)
            + (decoderConditioning.map { prefixed("decoder", $0.namedParameters) } ?? [])
            + prefixed("decoder.expand", expand.namedParameters)
            + decoder.indices.flatMap { prefixed("decoder.deconv\($0 + 1)", decoder[$0].namedParameters) }
    }

    public struct EncoderCache {
        let body: DownsamplingStack.Cache
        /// The heads' input: the features, with the label's embedding when conditional.
        let features: Tensor
        let featureShape: [Int]
        let labels: [Int]?
    }

    public struct DecoderCache {
        var labels: [Int]? = nil
        var expand: Tensor? = nil
        var expanded: Tensor? = nil
        var body: TransposedConvolutionStack.Cache? = nil
        var output: ConvTranspose2D.Cache? = nil
    }

    /// The decoder's transposed convolutions but the last, each with its ReLU, run as one stack
    /// (on oneDNN, in its layout).
    var decoderBody: TransposedConvolutionStack { TransposedConvolutionStack(Array(decoder.dropLast()), activation: .relu) }

    /// mu and log-variance `[N, L]` of q(z | x).
    public func encode(_ image: Tensor, labels: [Int]? = nil) -> (mean: Tensor, logVariance: Tensor, cache: EncoderCache) {
        precondition((encoderConditioning == nil) == (labels == nil), "ConvVAE: labels must be given exactly when conditional")
        let (h, bodyCache) = encoder.forward(image)
        let flat = h.reshaped([h.shape[0], h.count / h.shape[0]])
        let features = encoderConditioning.map { $0.forward(flat, labels: labels!) } ?? flat
        let cache = EncoderCache(body: bodyCache, features: features, featureShape: h.shape, labels: labels)
        return (mean.forward(features).output, logVariance.forward(features).output, cache)
    }

    /// Accumulates the encoder's gradients from dL/dmu and dL/dlogvar; returns dL/d(image).
    @discardableResult
    public func encoderBackward(dMean: Tensor, dLogVariance: Tensor, cache: EncoderCache) -> Tensor {
        encoderBackward(dMean: dMean, dLogVariance: dLogVariance, cache: cache, inputGradient: true)!
    }

    /// `encoderBackward`, without dL/d(image) (nil) when `inputGradient` is false (training
    /// needs only the weights' gradients).
    @discardableResult
    public func encoderBackward(dMean: Tensor, dLogVariance: Tensor, cache: EncoderCache, inputGradient: Bool) -> Tensor? {
        var d = mean.backward(dMean, cache: cache.features)
        d.add(logVariance.backward(dLogVariance, cache: cache.features))
        if let encoderConditioning, let labels = cache.labels { d = encoderConditioning.backward(d, labels: labels) }
        return encoder.backward(d.reshaped(cache.featureShape), cache: cache.body, inputGradient: inputGradient)
    }

    /// The image `[N, C, S, S]` for latents `[N, L]`.
    public func decode(_ z: Tensor, labels: [Int]? = nil) -> (output: Tensor, cache: DecoderCache) {
        precondition((decoderConditioning == nil) == (labels == nil), "ConvVAE: labels must be given exactly when conditional")
        var cache = DecoderCache(labels: labels)
        let (expanded, expandCache) = expand.forward(decoderConditioning.map { $0.forward(z, labels: labels!) } ?? z)
        cache.expand = expandCache
        let (activated, activationCache) = Activation.relu(expanded.reshaped([z.shape[0], widths.last!, baseSize, baseSize]))
        cache.expanded = activationCache
        let (h, bodyCache) = decoderBody.forward(activated)
        let (image, outputCache) = decoder.last!.forward(h)
        (cache.body, cache.output) = (bodyCache, outputCache)
        return (image, cache)
    }

    /// Accumulates the decoder's gradients from dL/d(image); returns dL/dz.
    public func decoderBackward(_ dImage: Tensor, cache: DecoderCache) -> Tensor {
        var d = decoder.last!.backward(dImage, cache: cache.output!)
        d = decoderBody.backward(d, cache: cache.body!)
        d = Activation.reluBackward(d, cache: cache.expanded!)
        let dInput = expand.backward(d.reshaped([d.shape[0], d.count / d.shape[0]]), cache: cache.expand!)
        if let decoderConditioning, let labels = cache.labels { return decoderConditioning.backward(dInput, labels: labels) }
        return dInput
    }
}

extension ConvVAE {
    /// Forward multiply-adds x 2 for one `imageSize` image (convolutions and dense layers).
    public func forwardFLOPsPerSample(imageSize: Int) -> Int {
        var macs = mean.inputs * mean.outputs + logVariance.inputs * logVariance.outputs + expand.inputs * expand.outputs
        var size = imageSize >> encoder.convolutions.count
        for deconv in decoder {
            macs += size * size * deconv.weight.value.count
            size *= 2
        }
        return encoder.forwardFLOPsPerSample(imageSize: imageSize) + 2 * macs
    }
}
