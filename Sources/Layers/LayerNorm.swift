import WorkerPool
import Tensors

/// Layer normalisation (Ba, Kiros & Hinton 2016) over the last dimension of `[..., C]`
/// (PyTorch's LayerNorm(C)): each row of C values is normalised with its own mean and
/// (biased) variance, then y = gamma x_hat + beta. No batch statistics, so a data-parallel
/// job needs no communication for it. Rows are shared among the workers.
public final class LayerNorm: Module {
    public let weight: Parameter   // gamma [C]
    public let bias: Parameter     // beta [C]
    public let epsilon: Float

    public init(channels: Int, epsilon: Float = 1e-6) {
        weight = Parameter("weight", Tensor(shape: [channels], repeating: 1))
        bias = Parameter("bias", Tensor(shape: [channels]))
        self.epsilon = epsilon
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
    public var channels: Int { weight.value.count }

    public struct Cache: Sendable {
        /// x_hat, the normalised input.
        let normalized: Tensor
        /// 1 / sqrt(var + eps) per row.
        let inverseDeviation: [Float]
    }

    public func forward(_ x: Tensor) -> (output: Tensor, cache: Cache) {
        precondition(x.shape.last == channels, "LayerNorm: input \(x.shape), expected [..., \(channels)]")
        let (c, rows) = (channels, x.count / max(1, channels))
        var normalized = [Float](repeating: 0, count: x.count), y = normalized
        var inverse = [Float](repeating: 0, count: rows)
        let (gamma, beta, epsilon) = (weight.value.values, bias.value.values, self.epsilon)
        x.values.withUnsafeBufferPointer { xs in
            normalized.withUnsafeMutableBufferPointer { ns in
                y.withUnsafeMutableBufferPointer { ys in
                    inverse.withUnsafeMutableBufferPointer { inv in
                        let (xp, np, yp, ip) = (xs.baseAddress!, ns.baseAddress!, ys.baseAddress!, inv.baseAddress!)
                        Workers.run(over: rows) { _, share in
                            for row in share {
                                let (input, xHat, out) = (xp + row * c, np + row * c, yp + row * c)
                                var mean: Float = 0
                                for i in 0..<c { mean += input[i] }
                                mean /= Float(c)
                                var variance: Float = 0
                                for i in 0..<c { variance += (input[i] - mean) * (input[i] - mean) }
                                let scale = 1 / (variance / Float(c) + epsilon).squareRoot()
                                ip[row] = scale
                                for i in 0..<c {
                                    xHat[i] = (input[i] - mean) * scale
                                    out[i] = gamma[i] * xHat[i] + beta[i]
                                }
                            }
                        }
                    }
                }
            }
        }
        return (Tensor(shape: x.shape, values: y), Cache(normalized: Tensor(shape: x.shape, values: normalized),
                                                         inverseDeviation: inverse))
    }

    /// Accumulates dgamma and dbeta; returns dx:
    ///
    ///     dx_hat = dy gamma
    ///     dx     = (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat)) / sqrt(var + eps)
    public func backward(_ dy: Tensor, cache: Cache) -> Tensor {
        let (c, rows) = (channels, dy.count / max(1, channels))
        let parts = Workers.shares(of: rows)
        var dx = [Float](repeating: 0, count: dy.count)
        // Each share's dgamma and dbeta, added up afterwards.
        var sums = [Float](repeating: 0, count: parts * 2 * c)
        let gamma = weight.value.values
        dy.values.withUnsafeBufferPointer { dys in
            cache.normalized.values.withUnsafeBufferPointer { ns in
                cache.inverseDeviation.withUnsafeBufferPointer { inv in
                    dx.withUnsafeMutableBufferPointer { dxs in
                        sums.withUnsafeMutableBufferPointer { ss in
                            let (dyp, np, ip, dxp, sp) = (dys.baseAddress!, ns.baseAddress!, inv.baseAddress!, dxs.baseAddress!,
                                                          ss.baseAddress!)
                            Workers.run(over: rows) { part, share in
                                let (dGamma, dBeta) = (sp + part * 2 * c, sp + part * 2 * c + c)
                                for row in share {
                                    let (gradient, xHat, out) = (dyp + row * c, np + row * c, dxp + row * c)
                                    var meanGradient: Float = 0, meanProduct: Float = 0
                                    for i in 0..<c {
                                        // 1. dgamma += dy x_hat, dbeta += dy
                                        dGamma[i] += gradient[i] * xHat[i]
                                        dBeta[i] += gradient[i]
                                        let g = gradient[i] * gamma[i]
                                        meanGradient += g
                                        meanProduct += g * xHat[i]
                                    }
                                    meanGradient /= Float(c)
                                    meanProduct /= Float(c)
                                    // 2. dx from dx_hat (above)
                                    for i in 0..<c {
                                        out[i] = (gradient[i] * gamma[i] - meanGradient - xHat[i] * meanProduct) * ip[row]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for part in 0..<parts {
            for i in 0..<c {
                weight.gradient.values[i] += sums[part * 2 * c + i]
                bias.gradient.values[i] += sums[part * 2 * c + c + i]
            }
        }
        return Tensor(shape: dy.shape, values: dx)
    }
}
