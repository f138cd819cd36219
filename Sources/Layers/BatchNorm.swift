import CLayerKernels
import Tensors
import WorkerPool

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
        /// The input, and the mean and 1 / sqrt(var + eps) per channel it was normalised with:
        /// x_hat = (x - mean) / sigma is recomputed, not stored (one array fewer to write).
        let input: Tensor
        let mean: [Float]
        let inverseDeviation: [Float]
        /// With a rectifier: its slope below 0 and the output (whose sign is its input's).
        var slope: Float? = nil
        var output: Tensor? = nil
    }

    /// y = gamma x_hat + beta, then (with `activation`: ReLU or LeakyReLU) rectified in the
    /// same pass. Channels are shared among the workers (`Workers`).
    public func forward(_ x: Tensor, training: Bool, activation: FusedActivation? = nil) -> (output: Tensor, cache: Cache) {
        let slope = activation.map { activation -> Float in
            guard let slope = activation.rectifierSlope else { preconditionFailure("BatchNorm: only a rectifier is fused") }
            return slope
        }
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
                            // Each row in Float (CLayerKernels), the rows in Double.
                            var sum = 0.0, sumSquares = 0.0
                            for b in 0..<n {
                                var (rowSum, rowSquares): (Float, Float) = (0, 0)
                                mf_sum_and_squares(xs + (b * channels + c) * inner, inner, &rowSum, &rowSquares)
                                sum += Double(rowSum)
                                sumSquares += Double(rowSquares)
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
        // 3. y = gamma (x - mean) / sqrt(var + eps) + beta, rectified: y > 0 ? y : slope y
        let inverse = variance.map { 1 / ($0 + epsilon).squareRoot() }
        var y = Tensor(shape: x.shape, values: [Float](unsafeUninitializedCapacity: x.count) { $1 = x.count })
        let (gamma, beta) = (weight.value.values, bias.value.values)
        x.values.withUnsafeBufferPointer { xb in
            y.values.withUnsafeMutableBufferPointer { yb in
                let (xs, ys) = (xb.baseAddress!, yb.baseAddress!)
                Workers.run(over: channels) { _, share in
                    for c in share {
                        // y = scale x + shift, the normalisation and gamma, beta in one (a
                        // slope of 1 rectifies nothing).
                        let scale = gamma[c] * inverse[c], shift = beta[c] - gamma[c] * inverse[c] * mean[c]
                        for b in 0..<n {
                            let start = (b * channels + c) * inner
                            mf_scale_shift_rectify(xs + start, ys + start, inner, scale, shift, slope ?? 1)
                        }
                    }
                }
            }
        }
        return (y, Cache(input: x, mean: mean, inverseDeviation: inverse, slope: slope, output: slope == nil ? nil : y))
    }

    /// From dL/d(output), accumulates d gamma and d beta; returns dx (training-mode statistics:
    /// the batch's mean and variance depend on x).
    public func backward(_ dOutput: Tensor, cache: Cache) -> Tensor {
        let x = cache.input
        let channels = self.channels
        let n = x.shape[0], inner = x.count / max(1, n * channels)
        let (mean, inverse) = (cache.mean, cache.inverseDeviation)
        var dx = Tensor(shape: x.shape, values: [Float](unsafeUninitializedCapacity: x.count) { $1 = x.count })
        // dy, the gradient before the rectifier, is read in both passes below as
        // `rectified[i] > 0 ? dOutput[i] : slope dOutput[i]` (never stored); without one the
        // slope is 1 and any array will do for `rectified`.
        let slope = cache.slope ?? 1
        let rectified = cache.output ?? x
        // 1. d beta = sum dy;  2. d gamma = sum dy x_hat, per channel: [sum dy | sum dy x_hat | count]
        var sums = [Float](repeating: 0, count: 2 * channels + 1)
        dOutput.values.withUnsafeBufferPointer { dyb in
            x.values.withUnsafeBufferPointer { xb in
                rectified.values.withUnsafeBufferPointer { rb in
                    sums.withUnsafeMutableBufferPointer { sb in
                        let (dys, xs, rs, ss) = (dyb.baseAddress!, xb.baseAddress!, rb.baseAddress!, sb.baseAddress!)
                        Workers.run(over: channels) { _, share in
                            for c in share {
                                // sum dy x_hat = sum dy (x - mean), times 1 / sigma after.
                                var sumDy: Float = 0, sumDyCentered: Float = 0
                                for b in 0..<n {
                                    let start = (b * channels + c) * inner
                                    var (rowDy, rowDyCentered): (Float, Float) = (0, 0)
                                    mf_batchnorm_gradient_sums(dys + start, rs + start, xs + start, inner, slope, mean[c],
                                                               &rowDy, &rowDyCentered)
                                    sumDy += rowDy
                                    sumDyCentered += rowDyCentered
                                }
                                ss[c] = sumDy
                                ss[channels + c] = sumDyCentered * inverse[c]
                            }
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
        let gamma = weight.value.values
        dOutput.values.withUnsafeBufferPointer { dyb in
            x.values.withUnsafeBufferPointer { xb in
                rectified.values.withUnsafeBufferPointer { rb in
                    dx.values.withUnsafeMutableBufferPointer { dxb in
                        let (dys, xs, rs, dxs) = (dyb.baseAddress!, xb.baseAddress!, rb.baseAddress!, dxb.baseAddress!)
                        Workers.run(over: channels) { _, share in
                            for c in share {
                                let scale = gamma[c] * inverse[c]
                                let (meanDy, meanDyXHat) = (sums[c] / m, sums[channels + c] / m)
                                for b in 0..<n {
                                    let start = (b * channels + c) * inner
                                    mf_batchnorm_input_gradient(dys + start, rs + start, xs + start, dxs + start, inner, slope,
                                                                scale, meanDy, mean[c], inverse[c] * meanDyXHat)
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
