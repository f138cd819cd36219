/// A dense Float32 tensor: contiguous, row-major (last index fastest).
///
/// Images are `[N, C, H, W]` (batch, channels, height, width); a mel spectrogram is an image
/// `[N, 1, nMels, frames]`. Dense activations are `[N, features]`. The generative core knows
/// nothing else about its data.
public struct Tensor: Equatable, Sendable {
    public private(set) var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == values.count, "Tensor: \(values.count) values do not fill shape \(shape)")
        self.shape = shape
        self.values = values
    }

    /// All `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        self.init(shape: shape, values: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape) }

    public static func zeros(like other: Tensor) -> Tensor { Tensor(shape: other.shape) }

    public var count: Int { values.count }
    public var rank: Int { shape.count }

    /// The same values seen with another shape of the same size.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, values: values)
    }

    /// Sets every value to 0 (gradients are accumulated, and zeroed as a step of their own).
    public mutating func zero() {
        values.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// self += other, elementwise.
    public mutating func add(_ other: Tensor) {
        precondition(other.shape == shape, "Tensor.add: \(other.shape) != \(shape)")
        values.withUnsafeMutableBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                for i in 0..<a.count { a[i] += b[i] }
            }
        }
    }

    /// Sum of squares (for gradient norms and tests).
    public var squaredNorm: Double { values.reduce(0) { $0 + Double($1) * Double($1) } }
}
