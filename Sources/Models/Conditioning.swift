import Layers
import Tensors

/// Class conditioning by concatenation: x `[N, F]` -> [x, E(y)] `[N, F + D]` with a learned
/// embedding E of each label (used on the generator's latent and on both ends of the VAE).
final class LabelConcatenation: Module {
    let embedding: Embedding

    init(classes: Int, dimension: Int, random: inout RandomNumbers) {
        embedding = Embedding(classes: classes, dimension: dimension, random: &random)
    }

    var namedParameters: [(name: String, parameter: Parameter)] { prefixed("label_embedding", embedding.namedParameters) }
    var dimension: Int { embedding.dimension }

    func forward(_ x: Tensor, labels: [Int]) -> Tensor {
        precondition(labels.count == x.shape[0], "conditioning: \(labels.count) labels for \(x.shape[0]) rows")
        let (n, f, d) = (x.shape[0], x.shape[1], dimension)
        let (embedded, _) = embedding.forward(labels)
        var values = [Float](repeating: 0, count: n * (f + d))
        for row in 0..<n {
            for j in 0..<f { values[row * (f + d) + j] = x.values[row * f + j] }
            for j in 0..<d { values[row * (f + d) + f + j] = embedded.values[row * d + j] }
        }
        return Tensor(shape: [n, f + d], values: values)
    }

    /// Splits d[x, E(y)]: accumulates the embedding's gradient, returns dx `[N, F]`.
    func backward(_ d: Tensor, labels: [Int]) -> Tensor {
        let (n, total) = (d.shape[0], d.shape[1]), dd = dimension, f = total - dd
        var dx = [Float](repeating: 0, count: n * f), dEmbedded = [Float](repeating: 0, count: n * dd)
        for row in 0..<n {
            for j in 0..<f { dx[row * f + j] = d.values[row * total + j] }
            for j in 0..<dd { dEmbedded[row * dd + j] = d.values[row * total + f + j] }
        }
        embedding.backward(Tensor(shape: [n, dd], values: dEmbedded), cache: labels)
        return Tensor(shape: [n, f], values: dx)
    }
}
