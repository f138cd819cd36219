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

    public func forward(_ x: Tensor, training: Bool) -> (output: Tensor, cache: Cache) {
        precondition(x.rank >= 2 && x.shape[1] == channels, "BatchNorm: input \(x.shape), expected [N, \(channels), ...]")
        let n = x.shape[0], inner = x.count / max(1, n * channels)
        let perChannel = n * inner
        var mean = [Float](repeating: 0, count: channels)
        var variance = [Float](repeating: 0, count: channels)
        if training {
            for c in 0..<channels {
                var sum = 0.0, sumSquares = 0.0
                for b in 0..<n {
                    let start = (b * channels + c) * inner
                    for i in start..<start + inner {
                        let v = Double(x.values[i])
                        sum += v
                        sumSquares += v * v
                    }
                }
                let m = sum / Double(perChannel)
                let v = max(0, sumSquares / Double(perChannel) - m * m)
                mean[c] = Float(m)
                variance[c] = Float(v)
                let unbiased = perChannel > 1 ? v * Double(perChannel) / Double(perChannel - 1) : v
                runningMean.value.values[c] = (1 - momentum) * runningMean.value.values[c] + momentum * Float(m)
                runningVariance.value.values[c] = (1 - momentum) * runningVariance.value.values[c] + momentum * Float(unbiased)
            }
        } else {
            mean = runningMean.value.values
            variance = runningVariance.value.values
        }
        let inverse = variance.map { 1 / ($0 + epsilon).squareRoot() }
        var normalized = Tensor.zeros(like: x)
        var y = Tensor.zeros(like: x)
        for b in 0..<n {
            for c in 0..<channels {
                let start = (b * channels + c) * inner
                let (g, beta) = (weight.value.values[c], bias.value.values[c])
                for i in start..<start + inner {
                    let xHat = (x.values[i] - mean[c]) * inverse[c]
                    normalized.values[i] = xHat
                    y.values[i] = g * xHat + beta
                }
            }
        }
        return (y, Cache(normalized: normalized, inverseDeviation: inverse))
    }

    /// Accumulates d gamma and d beta; returns dx (training-mode statistics: the batch's
    /// mean and variance depend on x).
    public func backward(_ dy: Tensor, cache: Cache) -> Tensor {
        let xHat = cache.normalized
        let n = xHat.shape[0], inner = xHat.count / max(1, n * channels)
        let m = Float(n * inner)
        var dx = Tensor.zeros(like: xHat)
        for c in 0..<channels {
            // 1. d beta = sum dy;  2. d gamma = sum dy x_hat
            var sumDy: Float = 0, sumDyXHat: Float = 0
            for b in 0..<n {
                let start = (b * channels + c) * inner
                for i in start..<start + inner {
                    sumDy += dy.values[i]
                    sumDyXHat += dy.values[i] * xHat.values[i]
                }
            }
            bias.gradient.values[c] += sumDy
            weight.gradient.values[c] += sumDyXHat
            // 3. dx = gamma / sigma (dy - mean(dy) - x_hat mean(dy x_hat))
            let scale = weight.value.values[c] * cache.inverseDeviation[c]
            for b in 0..<n {
                let start = (b * channels + c) * inner
                for i in start..<start + inner {
                    dx.values[i] = scale * (dy.values[i] - sumDy / m - xHat.values[i] * sumDyXHat / m)
                }
            }
        }
        return dx
    }
}
