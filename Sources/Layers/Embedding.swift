import Tensors

/// A learned vector per class label (for conditional models): labels `[N]` -> `[N, D]`,
/// table `[classes, D]` (PyTorch's nn.Embedding, initialised N(0, 1) as it is).
public final class Embedding: Module {
    public let table: Parameter

    public init(classes: Int, dimension: Int, random: inout RandomNumbers) {
        table = Parameter("weight", random.normal([classes, dimension]))
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", table)] }
    public var classes: Int { table.value.shape[0] }
    public var dimension: Int { table.value.shape[1] }

    /// The cache is the labels.
    public func forward(_ labels: [Int]) -> (output: Tensor, cache: [Int]) {
        var y = Tensor.zeros([labels.count, dimension])
        for (row, label) in labels.enumerated() {
            precondition((0..<classes).contains(label), "Embedding: label \(label) outside 0..<\(classes)")
            for d in 0..<dimension { y.values[row * dimension + d] = table.value.values[label * dimension + d] }
        }
        return (y, labels)
    }

    /// Accumulates each label's row of dy into its table row (labels have no gradient).
    public func backward(_ dy: Tensor, cache labels: [Int]) {
        for (row, label) in labels.enumerated() {
            for d in 0..<dimension { table.gradient.values[label * dimension + d] += dy.values[row * dimension + d] }
        }
    }
}
