import WorkerPool
import Foundation
import Tensors

/// Elementwise activations. Each forward returns what its backward needs: the input
/// (ReLU, LeakyReLU) or the output (Tanh, Sigmoid, whose derivatives are written in it).
/// Large tensors are shared among the workers (`Workers`).
public enum Activation {
    /// max(0, x)
    public static func relu(_ x: Tensor) -> (output: Tensor, cache: Tensor) {
        (Tensor(shape: x.shape, values: Workers.map(x.values) { max(0, $0) }), x)
    }

    public static func reluBackward(_ dy: Tensor, cache x: Tensor) -> Tensor {
        Tensor(shape: x.shape, values: Workers.map(dy.values, x.values) { $1 > 0 ? $0 : 0 })
    }

    /// x for x > 0, slope x otherwise (DCGAN's discriminator: slope 0.2).
    public static func leakyReLU(_ x: Tensor, slope: Float = 0.2) -> (output: Tensor, cache: Tensor) {
        (Tensor(shape: x.shape, values: Workers.map(x.values) { $0 > 0 ? $0 : slope * $0 }), x)
    }

    public static func leakyReLUBackward(_ dy: Tensor, cache x: Tensor, slope: Float = 0.2) -> Tensor {
        Tensor(shape: x.shape, values: Workers.map(dy.values, x.values) { $1 > 0 ? $0 : slope * $0 })
    }

    /// tanh(x); the cache is the output y, since tanh' = 1 - y^2.
    public static func tanh(_ x: Tensor) -> (output: Tensor, cache: Tensor) {
        let y = Tensor(shape: x.shape, values: vectorTanh(x.values))
        return (y, y)
    }

    public static func tanhBackward(_ dy: Tensor, cache y: Tensor) -> Tensor {
        Tensor(shape: y.shape, values: Workers.map(dy.values, y.values) { $0 * (1 - $1 * $1) })
    }

    /// 1 / (1 + e^-x), computed without overflow for large |x|; the cache is the output y,
    /// since sigmoid' = y (1 - y).
    public static func sigmoid(_ x: Tensor) -> (output: Tensor, cache: Tensor) {
        let y = Tensor(shape: x.shape, values: Workers.map(x.values, stableSigmoid))
        return (y, y)
    }

    public static func sigmoidBackward(_ dy: Tensor, cache y: Tensor) -> Tensor {
        Tensor(shape: y.shape, values: Workers.map(dy.values, y.values) { $0 * $1 * (1 - $1) })
    }

    /// GELU, exact (Hendrycks & Gimpel 2016): x Phi(x), Phi the standard normal CDF,
    /// Phi(x) = (1 + erf(x / sqrt 2)) / 2; the cache is the input.
    public static func gelu(_ x: Tensor) -> (output: Tensor, cache: Tensor) {
        (Tensor(shape: x.shape, values: Workers.map(x.values) { $0 * normalCDF($0) }), x)
    }

    /// d/dx x Phi(x) = Phi(x) + x phi(x), phi the standard normal density.
    public static func geluBackward(_ dy: Tensor, cache x: Tensor) -> Tensor {
        Tensor(shape: x.shape, values: Workers.map(dy.values, x.values) { dy, x in
            dy * (normalCDF(x) + x * 0.398_942_28 * exp(-0.5 * x * x))
        })
    }
}

/// 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) otherwise: no exp of a large positive number.
@inline(__always)
func stableSigmoid(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + exp(-x)) }
    let e = exp(x)
    return e / (1 + e)
}

/// The standard normal CDF, (1 + erf(x / sqrt 2)) / 2.
@inline(__always)
@usableFromInline
func normalCDF(_ x: Float) -> Float { 0.5 * (1 + erf(x * 0.707_106_78)) }
