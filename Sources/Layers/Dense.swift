import BLAS
import Tensors

// Dimension letters: N batch, I input features, O output features.

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
        let n = x.shape[0]
        var y = Tensor.zeros([n, outputs])
        if let bias {
            for row in 0..<n { for o in 0..<outputs { y.values[row * outputs + o] = bias.value.values[o] } }
        }
        BLAS.sgemm(transposeB: true, m: n, n: outputs, k: inputs, a: x.values, b: weight.value.values,
                   beta: bias == nil ? 0 : 1, c: &y.values)
        return (y, x)
    }

    /// Accumulates dW and db (unless `parameterGradients` is false); returns dx.
    public func backward(_ dy: Tensor, cache x: Tensor, parameterGradients: Bool = true) -> Tensor {
        let n = x.shape[0]
        // 1. dW[O, I] += dy^T[O, N] x[N, I]
        if parameterGradients {
            BLAS.sgemm(transposeA: true, m: outputs, n: inputs, k: n, a: dy.values, b: x.values, beta: 1,
                       c: &weight.gradient.values)
        }
        // 2. db[O] += sum over N of dy
        if parameterGradients, let bias {
            for row in 0..<n { for o in 0..<outputs { bias.gradient.values[o] += dy.values[row * outputs + o] } }
        }
        // 3. dx[N, I] = dy[N, O] W[O, I]
        var dx = Tensor.zeros([n, inputs])
        BLAS.sgemm(m: n, n: inputs, k: outputs, a: dy.values, b: weight.value.values, c: &dx.values)
        return dx
    }
}
