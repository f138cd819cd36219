import WorkerPool
import Tensors

/// Batch normalisation over the channels of `[N, C, ...]` (PyTorch's BatchNorm1d/2d):
/// in training, each channel is normalised with its batch mean and (biased) variance and the
/// running statistics move towards them (momentum 0.1, unbiased variance, as PyTorch); in
/// evaluation the running statistics are used. Then y = gamma x_hat + beta.
public final class BatchNorm: Module {
    public let weight: Parameter   // gamma [C]
    public let bias: Parameter     // beta [C]
    public let runningMean: Parameter
    public let runningVariance: Parameter
    public let epsilon: Float
    public let momentum: Float

    public init(channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        weight = Parameter("weight", Tensor(shape: [channels], repeating: 1))
        bias = Parameter("bias", Tensor(shape: [channels]))
        runningMean = Parameter("running_mean", Tensor(shape: [channels]))
        runningVariance = Parameter("running_var", Tensor(shape: [channels], repeating: 1))
        self.epsilon = epsilon
        self.momentum = momentum
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
    public var namedBuffers: [(name: String, parameter: Parameter)] {
        [("running_mean", runningMean), ("running_var", runningVariance)]
    }

    public var channels: Int { weight.value.count }

    public struct Cache: Sendable {
        /// x_hat, the normalised input.
        let normalized: Tensor
        /// 1 / sqrt(var + eps) per channel.
        let inverseDeviation: [Float]
    }

    /// Channels are shared among the workers (`Workers`).
    public func forward(_ x: Tensor, training: Bool) -> (output: Tensor, cache: Cache) {
        precondition(x.rank >= 2 && x.shape[1] == channels, "BatchNorm: input \(x.shape), expected [N, \(channels), ...]")
        let n = x.shape[0], inner = x.count / max(1, n * channels), channels = self.channels
        let perChannel = n * inner
        var mean = runningMean.value.values
        var variance = runningVariance.value.values
        if training {
            // 1. The batch's mean and (biased) variance per channel, in Double.
            x.values.withUnsafeBufferPointer { xb in
                mean.withUnsafeMutableBufferPointer { mb in
                    variance.withUnsafeMutableBufferPointer { vb in
                        let (xs, ms, vs) = (xb.baseAddress!, mb.baseAddress!, vb.baseAddress!)
                        Workers.run(over: channels) { _, share in
                            for c in share {
                                var sum = 0.0, sumSquares = 0.0
                                for b in 0..<n {
                                    let start = (b * channels + c) * inner
                                    for i in start..<start + inner {
                                        let v = Double(xs[i])
                                        sum += v
                                        sumSquares += v * v
                                    }
                                }
                                let m = sum / Double(perChannel)
                                ms[c] = Float(m)
                                vs[c] = Float(max(0, sumSquares / Double(perChannel) - m * m))
                            }
                        }
                    }
                }
            }
            // 2. Running statistics move towards them (unbiased variance, as PyTorch).
            let unbias = perChannel > 1 ? Float(perChannel) / Float(perChannel - 1) : 1
            for c in 0..<channels {
                runningMean.value.values[c] = (1 - momentum) * runningMean.value.values[c] + momentum * mean[c]
                runningVariance.value.values[c] = (1 - momentum) * runningVariance.value.values[c]
                    + momentum * variance[c] * unbias
            }
        }
        // 3. y = gamma (x - mean) / sqrt(var + eps) + beta
        let inverse = variance.map { 1 / ($0 + epsilon).squareRoot() }
        var normalized = Tensor(shape: x.shape, values: [Float](unsafeUninitializedCapacity: x.count) { $1 = x.count })
        var y = normalized
        let (gamma, beta) = (weight.value.values, bias.value.values)
        x.values.withUnsafeBufferPointer { xb in
            normalized.values.withUnsafeMutableBufferPointer { nb in
                y.values.withUnsafeMutableBufferPointer { yb in
                    let (xs, ns, ys) = (xb.baseAddress!, nb.baseAddress!, yb.baseAddress!)
                    Workers.run(over: channels) { _, share in
                        for c in share {
                            for b in 0..<n {
                                let start = (b * channels + c) * inner
                                for i in start..<start + inner {
                                    let xHat = (xs[i] - mean[c]) * inverse[c]
                                    ns[i] = xHat
                                    ys[i] = gamma[c] * xHat + beta[c]
                                }
                            }
                        }
                    }
                }
            }
        }
        return (y, Cache(normalized: normalized, inverseDeviation: inverse))
    }

    /// Accumulates d gamma and d beta; returns dx (training-mode statistics: the batch's
    /// mean and variance depend on x).
    public func backward(_ dy: Tensor, cache: Cache) -> Tensor {
        let xHat = cache.normalized
        let channels = self.channels
        let n = xHat.shape[0], inner = xHat.count / max(1, n * channels)
        let m = Float(n * inner)
        var dx = Tensor(shape: xHat.shape, values: [Float](unsafeUninitializedCapacity: xHat.count) { $1 = xHat.count })
        var sums = [Float](repeating: 0, count: 2 * channels)  // per channel: sum dy, sum dy x_hat
        let (gamma, inverse) = (weight.value.values, cache.inverseDeviation)
        dy.values.withUnsafeBufferPointer { dyb in
            xHat.values.withUnsafeBufferPointer { xb in
                dx.values.withUnsafeMutableBufferPointer { dxb in
                    sums.withUnsafeMutableBufferPointer { sb in
                        let (dys, xs, dxs, ss) = (dyb.baseAddress!, xb.baseAddress!, dxb.baseAddress!, sb.baseAddress!)
                        Workers.run(over: channels) { _, share in
                            for c in share {
                                // 1. d beta = sum dy;  2. d gamma = sum dy x_hat
                                var sumDy: Float = 0, sumDyXHat: Float = 0
                                for b in 0..<n {
                                    let start = (b * channels + c) * inner
                                    for i in start..<start + inner {
                                        sumDy += dys[i]
                                        sumDyXHat += dys[i] * xs[i]
                                    }
                                }
                                ss[2 * c] = sumDy
                                ss[2 * c + 1] = sumDyXHat
                                // 3. dx = gamma / sigma (dy - mean(dy) - x_hat mean(dy x_hat))
                                let scale = gamma[c] * inverse[c]
                                for b in 0..<n {
                                    let start = (b * channels + c) * inner
                                    for i in start..<start + inner {
                                        dxs[i] = scale * (dys[i] - sumDy / m - xs[i] * sumDyXHat / m)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for c in 0..<channels {
            bias.gradient.values[c] += sums[2 * c]
            weight.gradient.values[c] += sums[2 * c + 1]
        }
        return dx
    }
}
