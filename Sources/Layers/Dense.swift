import WorkerPool
import BLAS
import Tensors

// Dimension letters: N batch (rows), I input features, O output features.

/// y = x W^T + b: x `[N, I]`, W `[O, I]` (PyTorch's layout), b `[O]`, y `[N, O]`.
public final class Dense: WeightAndBias {
    public let weight: Parameter
    public let bias: Parameter?

    /// Weights uniform in +-1/sqrt(I) (PyTorch's default for Linear), bias likewise.
    public init(inputs: Int, outputs: Int, bias: Bool = true, random: inout RandomNumbers) {
        (weight, self.bias) = uniformParameters(weightShape: [outputs, inputs], fanIn: inputs,
                                                biasCount: bias ? outputs : nil, random: &random)
    }

    public var inputs: Int { weight.value.shape[1] }
    public var outputs: Int { weight.value.shape[0] }

    /// The cache is the input, which the backward needs for dW.
    public func forward(_ x: Tensor) -> (output: Tensor, cache: Tensor) {
        precondition(x.rank == 2 && x.shape[1] == inputs, "Dense: input \(x.shape), expected [N, \(inputs)]")
        let y = LinearMap.forward(x.values, rows: x.shape[0], weight: weight.value.values, outputs: outputs,
                                  bias: bias?.value.values)
        return (Tensor(shape: [x.shape[0], outputs], values: y), x)
    }

    /// Accumulates dW and db (unless `parameterGradients` is false); returns dx.
    public func backward(_ dy: Tensor, cache x: Tensor, parameterGradients: Bool = true) -> Tensor {
        Tensor(shape: x.shape, values: linearBackward(dy.values, input: x.values, rows: x.shape[0],
                                                      parameterGradients: parameterGradients))
    }
}

/// The products behind `Dense` and `Conv1D`: rows `[N, I]` times W^T, W `[O, I]`. Many rows
/// (a sequence model's steps) are shared among the workers, each running single-threaded
/// products on its rows; a few (a GAN's batch of latents) run as one product.
enum LinearMap {
    /// Below twice this many rows one product does it all (dispatching costs more).
    static let rowsPerShare = 64

    static func shares(rows: Int) -> Int { rows >= 2 * rowsPerShare ? Workers.shares(of: rows / rowsPerShare) : 1 }

    /// y `[N, O]` = x `[N, I]` W^T + b.
    static func forward(_ x: [Float], rows n: Int, weight: [Float], outputs: Int, bias: [Float]?) -> [Float] {
        let inputs = weight.count / outputs
        var y = [Float](repeating: 0, count: n * outputs)
        if let bias {
            for row in 0..<n { for o in 0..<outputs { y[row * outputs + o] = bias[o] } }
        }
        let parts = shares(rows: n)
        x.withUnsafeBufferPointer { xs in
            weight.withUnsafeBufferPointer { w in
                y.withUnsafeMutableBufferPointer { ys in
                    let (xp, wp, yp) = (xs.baseAddress!, w.baseAddress!, ys.baseAddress!)
                    Workers.runProducts(over: parts) { _, share in
                        let rows = (n * share.lowerBound / parts)..<(n * share.upperBound / parts)
                        guard !rows.isEmpty else { return }
                        BLAS.sgemm(transposeB: true, m: rows.count, n: outputs, k: inputs, a: xp + rows.lowerBound * inputs,
                                   b: wp, beta: bias == nil ? 0 : 1, c: yp + rows.lowerBound * outputs)
                    }
                }
            }
        }
        return y
    }

    /// Adds dW `[O, I]` into `weightGradient` and db `[O]` into `biasGradient` (each when
    /// given); returns dx `[N, I]`.
    static func backward(_ dy: [Float], input x: [Float], rows n: Int, weight: [Float], outputs: Int,
                         weightGradient: UnsafeMutablePointer<Float>?, biasGradient: UnsafeMutablePointer<Float>?) -> [Float] {
        let inputs = weight.count / outputs
        let parts = shares(rows: n)
        var dx = [Float](repeating: 0, count: n * inputs)
        // The later shares' dW, one after another; the first share adds into the gradient itself.
        let size = outputs * inputs
        var partial = [Float](repeating: 0, count: weightGradient == nil ? 0 : (parts - 1) * size)
        dy.withUnsafeBufferPointer { dys in
            x.withUnsafeBufferPointer { xs in
                weight.withUnsafeBufferPointer { w in
                    dx.withUnsafeMutableBufferPointer { dxs in
                        partial.withUnsafeMutableBufferPointer { partials in
                            let (dyp, xp, wp, dxp, pp) = (dys.baseAddress!, xs.baseAddress!, w.baseAddress!, dxs.baseAddress!,
                                                          partials.baseAddress)
                            Workers.runProducts(over: parts) { _, share in
                                let rows = (n * share.lowerBound / parts)..<(n * share.upperBound / parts)
                                guard !rows.isEmpty else { return }
                                let (dyRows, xRows) = (dyp + rows.lowerBound * outputs, xp + rows.lowerBound * inputs)
                                // 1. dW[O, I] += dy^T[O, rows] x[rows, I]
                                if let weightGradient {
                                    let target = share.lowerBound == 0 ? weightGradient : pp! + (share.lowerBound - 1) * size
                                    BLAS.sgemm(transposeA: true, m: outputs, n: inputs, k: rows.count, a: dyRows, b: xRows,
                                               beta: 1, c: target)
                                }
                                // 2. dx[rows, I] = dy[rows, O] W[O, I]
                                BLAS.sgemm(m: rows.count, n: inputs, k: outputs, a: dyRows, b: wp, c: dxp + rows.lowerBound * inputs)
                            }
                        }
                    }
                }
            }
        }
        if let weightGradient {
            for part in 0..<(parts - 1) { for i in 0..<size { weightGradient[i] += partial[part * size + i] } }
        }
        // 3. db[O] += sum over rows of dy
        if let biasGradient {
            for row in 0..<n { for o in 0..<outputs { biasGradient[o] += dy[row * outputs + o] } }
        }
        return dx
    }
}

extension WeightAndBias {
    /// `LinearMap.backward` with this layer's weight (seen as `[O, I]`) and gradients.
    func linearBackward(_ dy: [Float], input x: [Float], rows: Int, parameterGradients: Bool) -> [Float] {
        let outputs = weight.value.shape[0]
        return weight.gradient.values.withUnsafeMutableBufferPointer { dw in
            guard parameterGradients, let bias else {
                return LinearMap.backward(dy, input: x, rows: rows, weight: weight.value.values, outputs: outputs,
                                          weightGradient: parameterGradients ? dw.baseAddress! : nil, biasGradient: nil)
            }
            return bias.gradient.values.withUnsafeMutableBufferPointer { db in
                LinearMap.backward(dy, input: x, rows: rows, weight: weight.value.values, outputs: outputs,
                                   weightGradient: dw.baseAddress!, biasGradient: db.baseAddress!)
            }
        }
    }
}
