import Tensors

/// The processes of a data-parallel job (`mpirun -n N melforge train ...`): each holds the
/// model and computes on its share of every batch, and these sums across all of them keep
/// every process's model the same as one process's on the whole batch. In one process there
/// is no reducer and nothing is summed.
public protocol ReplicaReducer: AnyObject {
    /// This process's rank, 0 ..< count.
    var rank: Int { get }
    var count: Int { get }
    /// Every process's `values` added up, in place, on every process.
    func sum(_ values: inout [Float])
    func sum(_ values: inout [Double])
}

public enum Replicas {
    /// Set once, before any training, when the process is one of several.
    nonisolated(unsafe) public static var reducer: (any ReplicaReducer)?

    /// Whether this process is the one that writes checkpoints, logs, pictures and progress:
    /// rank 0, or the only one.
    public static var isFirst: Bool { (reducer?.rank ?? 0) == 0 }
    /// This process's rank (0 alone).
    public static var rank: Int { reducer?.rank ?? 0 }

    /// This process's rows of a batch of `total`: an even split by rank, rows
    /// total r / N ..< total (r + 1) / N (when it does not divide, some later ranks take one more).
    public static func share(of total: Int) -> Range<Int> {
        guard let reducer else { return 0..<total }
        return (total * reducer.rank / reducer.count)..<(total * (reducer.rank + 1) / reducer.count)
    }

    /// The gradients of `parameters` summed over all processes, through one buffer (one
    /// collective call per model, not one per tensor).
    public static func sumGradients(_ parameters: [Parameter]) {
        guard let reducer else { return }
        var buffer = [Float]()
        buffer.reserveCapacity(parameters.reduce(0) { $0 + $1.gradient.count })
        for parameter in parameters { buffer += parameter.gradient.values }
        reducer.sum(&buffer)
        var offset = 0
        for parameter in parameters {
            let count = parameter.gradient.count
            parameter.gradient.values = Array(buffer[offset..<offset + count])
            offset += count
        }
    }

    /// `values` summed over all processes (themselves in one process).
    public static func sum(_ values: [Double]) -> [Double] {
        guard let reducer else { return values }
        var summed = values
        reducer.sum(&summed)
        return summed
    }
}

/// A process's rows of a batch: `rows` of `total`. A step draws its random numbers for the
/// whole batch (the same on every process) and keeps its rows, and weighs its means by
/// `weight`, so that the processes' sums are the whole batch's means.
public struct BatchShare: Equatable, Sendable {
    public var rows: Range<Int>
    public var total: Int
    /// The weight of a mean over these rows in the mean over the whole batch: rows / total,
    /// or 1 / processes when every process takes the whole batch.
    public var weight: Float

    public init(rows: Range<Int>, total: Int, weight: Float? = nil) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= total, "BatchShare: rows \(rows) of \(total)")
        self.rows = rows
        self.total = total
        self.weight = weight ?? Float(rows.count) / Float(max(1, total))
    }

    /// All of a batch of `count`: one process.
    public static func whole(_ count: Int) -> BatchShare { BatchShare(rows: 0..<count, total: count) }

    /// This process's share of a batch of `total` (`Replicas.share`). A batch smaller than
    /// the number of processes (a data set's last) is not split: every process computes all
    /// of it, each with weight 1 / processes. That is exact for layers without batch
    /// statistics; a model with BatchNorm needs batches of at least one image per process.
    public static func mine(of total: Int) -> BatchShare {
        if let reducer = Replicas.reducer, total < reducer.count {
            return BatchShare(rows: 0..<total, total: total, weight: 1 / Float(reducer.count))
        }
        return BatchShare(rows: Replicas.share(of: total), total: total)
    }

    /// These rows of `tensor` (`[total, ...]`).
    public func rows(of tensor: Tensor) -> Tensor {
        guard rows.count != total else { return tensor }
        let per = tensor.count / max(1, tensor.shape[0])
        return Tensor(shape: [rows.count] + Array(tensor.shape.dropFirst()),
                      values: Array(tensor.values[(rows.lowerBound * per)..<(rows.upperBound * per)]))
    }

    /// These rows of `values` (one per batch row).
    public func rows<T>(of values: [T]) -> [T] { rows.count == total ? values : Array(values[rows]) }
}

extension Tensor {
    /// Every value times `factor` (the tensor itself for 1).
    public func scaled(by factor: Float) -> Tensor {
        factor == 1 ? self : Tensor(shape: shape, values: values.map { $0 * factor })
    }
}
