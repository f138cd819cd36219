import Layers
import Tensors

/// A small convolutional classifier, the evaluation's judge: image `[N, C, S, S]` ->
/// (strided conv halving the size, LeakyReLU 0.2) ... -> flatten -> Dense -> ReLU = the
/// embedding `[N, E]` -> dropout -> Dense -> class logits `[N, K]`.
///
/// The embedding is what the Frechet distance compares (the role Inception's pool layer plays
/// for images); its probabilities give the Inception score.
public final class Classifier: Module {
    public let classes: Int
    public let widths: [Int]
    public let embeddingSize: Int
    let body: DownsamplingStack
    let hidden: Dense
    let output: Dense
    let dropout: Dropout

    /// - Parameters:
    ///   - imageSize: B 2^k with B >= 2 for k = `widths.count`.
    public init(channels: Int = 1, imageSize: Int = 64, widths: [Int] = [16, 32, 64, 128], embeddingSize: Int = 128,
                classes: Int, kernelSize: Int = 5, dropout: Float = 0.3, random: inout RandomNumbers) {
        precondition(classes >= 2, "Classifier: \(classes) classes; expected 2 or more")
        let base = baseSide(imageSize: imageSize, stages: widths.count)
        self.classes = classes
        self.widths = widths
        self.embeddingSize = embeddingSize
        body = DownsamplingStack(channels: channels, widths: widths, kernelSize: kernelSize, random: &random)
        hidden = Dense(inputs: widths.last! * base * base, outputs: embeddingSize, random: &random)
        output = Dense(inputs: embeddingSize, outputs: classes, random: &random)
        self.dropout = Dropout(rate: dropout)
    }

    /// Forward multiply-adds x 2 for one `imageSize` image.
    public func forwardFLOPsPerSample(imageSize: Int) -> Int {
        body.forwardFLOPsPerSample(imageSize: imageSize) + 2 * (hidden.inputs * hidden.outputs + output.inputs * output.outputs)
    }

    /// "conv1.weight", ..., "hidden.weight", "output.weight", ...
    public var namedParameters: [(name: String, parameter: Parameter)] {
        body.namedParameters + prefixed("hidden", hidden.namedParameters) + prefixed("output", output.namedParameters)
    }

    public struct Cache {
        let body: DownsamplingStack.Cache
        let featureShape: [Int]
        let features: Tensor
        /// The hidden layer's output before its ReLU.
        let preActivation: Tensor
        /// The embedding after dropout: the output layer's input.
        let dropped: Tensor
        let dropoutMask: Tensor?
    }

    /// Class logits and the embedding of each image. `training` turns dropout on (drawn from
    /// `random`, for the whole batch when `image` is a process's `share` of it); evaluation is
    /// deterministic.
    public func forward(_ image: Tensor, training: Bool, share: BatchShare? = nil, random: inout RandomNumbers)
        -> (logits: Tensor, embedding: Tensor, cache: Cache) {
        let (h, bodyCache) = body.forward(image)
        let features = h.reshaped([h.shape[0], h.count / h.shape[0]])
        let (preActivation, _) = hidden.forward(features)
        let (embedding, _) = Activation.relu(preActivation)
        let (dropped, mask) = dropout.forward(embedding, training: training, share: share, random: &random)
        let (logits, _) = output.forward(dropped)
        return (logits, embedding,
                Cache(body: bodyCache, featureShape: h.shape, features: features, preActivation: preActivation,
                      dropped: dropped, dropoutMask: mask))
    }

    /// Evaluation: logits and embeddings, in batches of `batchSize` (bounded memory).
    public func evaluate(_ images: Tensor, batchSize: Int = 64) -> (logits: Tensor, embedding: Tensor) {
        let n = images.shape[0], per = images.count / max(1, n)
        var logits: [Float] = [], embedding: [Float] = []
        var unused = RandomNumbers(seed: 0)
        for start in stride(from: 0, to: n, by: batchSize) {
            let end = min(n, start + batchSize)
            let batch = Tensor(shape: [end - start] + images.shape.dropFirst(),
                               values: Array(images.values[(start * per)..<(end * per)]))
            let result = forward(batch, training: false, random: &unused)
            logits += result.logits.values
            embedding += result.embedding.values
        }
        return (Tensor(shape: [n, classes], values: logits), Tensor(shape: [n, embeddingSize], values: embedding))
    }

    /// Accumulates the parameters' gradients from dL/d(logits); returns dL/d(image).
    @discardableResult
    public func backward(_ dLogits: Tensor, cache: Cache) -> Tensor {
        backward(dLogits, cache: cache, inputGradient: true)!
    }

    /// `backward`, without dL/d(image) (nil) when `inputGradient` is false (training needs
    /// only the weights' gradients).
    @discardableResult
    public func backward(_ dLogits: Tensor, cache: Cache, inputGradient: Bool) -> Tensor? {
        var d = output.backward(dLogits, cache: cache.dropped)
        d = dropout.backward(d, cache: cache.dropoutMask)
        d = Activation.reluBackward(d, cache: cache.preActivation)
        d = hidden.backward(d, cache: cache.features)
        return body.backward(d.reshaped(cache.featureShape), cache: cache.body, inputGradient: inputGradient)
    }
}
