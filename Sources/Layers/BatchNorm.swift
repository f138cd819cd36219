import WorkerPool
import Tensors

/// Batch normalisation over the channels of `[N, C, ...]` (PyTorch's BatchNorm1d/2d):
/// in training, each channel is normalised with its batch mean and (biased) variance and the
/// running statistics move towards them (momentum 0.1, unbiased variance, as PyTorch); in
/// evaluation the running statistics are used. Then y = gamma x_hat + beta.
///
/// In a data-parallel job the batch is the whole batch of every process (`Replicas`): the
/// statistics' sums, and the backward's, are summed across the processes, as
/// SyncBatchNorm does, so that N processes compute what one computes.
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
        var mean = runningMean.value.values
        var variance = runningVariance.value.values
        var perChannel = n * inner
        if training {
            // 1. The batch's mean and (biased) variance per channel, from sums in Double (over
            //    every process's share: [sum x | sum x^2 | count]).
            var sums = [Double](repeating: 0, count: 2 * channels + 1)
            x.values.withUnsafeBufferPointer { xb in
                sums.withUnsafeMutableBufferPointer { sb in
                    let (xs, ss) = (xb.baseAddress!, sb.baseAddress!)
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
                            ss[c] = sum
                            ss[channels + c] = sumSquares
                        }
                    }
                }
            }
            sums[2 * channels] = Double(perChannel)
            sums = Replicas.sum(sums)
            perChannel = Int(sums[2 * channels])
            for c in 0..<channels {
                let m = sums[c] / Double(perChannel)
                mean[c] = Float(m)
                variance[c] = Float(max(0, sums[channels + c] / Double(perChannel) - m * m))
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
        var dx = Tensor(shape: xHat.shape, values: [Float](unsafeUninitializedCapacity: xHat.count) { $1 = xHat.count })
        // 1. d beta = sum dy;  2. d gamma = sum dy x_hat, per channel: [sum dy | sum dy x_hat | count]
        var sums = [Float](repeating: 0, count: 2 * channels + 1)
        dy.values.withUnsafeBufferPointer { dyb in
            xHat.values.withUnsafeBufferPointer { xb in
                sums.withUnsafeMutableBufferPointer { sb in
                    let (dys, xs, ss) = (dyb.baseAddress!, xb.baseAddress!, sb.baseAddress!)
                    Workers.run(over: channels) { _, share in
                        for c in share {
                            var sumDy: Float = 0, sumDyXHat: Float = 0
                            for b in 0..<n {
                                let start = (b * channels + c) * inner
                                for i in start..<start + inner {
                                    sumDy += dys[i]
                                    sumDyXHat += dys[i] * xs[i]
                                }
                            }
                            ss[c] = sumDy
                            ss[channels + c] = sumDyXHat
                        }
                    }
                }
            }
        }
        // This process's share of the parameters' gradients (summed with the others' later,
        // with every other gradient).
        for c in 0..<channels {
            bias.gradient.values[c] += sums[c]
            weight.gradient.values[c] += sums[channels + c]
        }
        // 3. dx = gamma / sigma (dy - mean(dy) - x_hat mean(dy x_hat)), the means over the
        //    whole batch of every process.
        sums[2 * channels] = Float(n * inner)
        if Replicas.reducer != nil { Replicas.reducer!.sum(&sums) }
        let m = sums[2 * channels]
        let (gamma, inverse) = (weight.value.values, cache.inverseDeviation)
        dy.values.withUnsafeBufferPointer { dyb in
            xHat.values.withUnsafeBufferPointer { xb in
                dx.values.withUnsafeMutableBufferPointer { dxb in
                    let (dys, xs, dxs) = (dyb.baseAddress!, xb.baseAddress!, dxb.baseAddress!)
                    Workers.run(over: channels) { _, share in
                        for c in share {
                            let (sumDy, sumDyXHat) = (sums[c], sums[channels + c])
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
        return dx
    }
}
