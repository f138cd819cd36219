import WorkerPool
import Tensors

// Dimension letters: N batch, T steps (a sequence's length), C input channels, O output
// channels, K kernel size (odd for "same" padding: the sequence is padded by (K - 1) / 2 zeros
// on both ends, so T stays T).
//
// Sequences are `[N, T, C]`: one row of channels per step, so that the pointwise layers of a
// sequence model (Dense, LayerNorm) work on `[N T, C]` rows without a transpose.

/// A 1-D convolution over sequences: x `[N, T, C]`, W `[O, C, K]` (PyTorch's Conv1d layout),
/// b `[O]`, y `[N, T', O]` with T' = (T + 2 P - K) / S + 1 for stride S and P zeros of padding
/// on both ends (by default S = 1 and P = (K - 1) / 2: "same", T' = T):
///
///     y[n, t, o] = b[o] + sum over c, k of W[o, c, k] x[n, t S + k - P, c]
///
/// It runs as a 1 x K convolution does in im2col form: each output step's K neighbours
/// gathered into a row `[C K]`, then one product with W `[O, C K]`.
public final class Conv1D: WeightAndBias {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Int
    public let padding: Int

    /// Weights and bias uniform in +-1/sqrt(C K) (PyTorch's default). Without `padding`, the
    /// kernel size must be odd and the padding is (K - 1) / 2.
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int? = nil, bias: Bool = true,
                random: inout RandomNumbers) {
        precondition(padding != nil || kernelSize % 2 == 1, "Conv1D: kernel size \(kernelSize) must be odd (same padding)")
        precondition(stride >= 1 && (padding ?? 0) >= 0, "Conv1D: stride \(stride), padding \(padding ?? 0)")
        (weight, self.bias) = uniformParameters(weightShape: [outputChannels, inputChannels, kernelSize],
                                                fanIn: inputChannels * kernelSize, biasCount: bias ? outputChannels : nil,
                                                random: &random)
        self.stride = stride
        self.padding = padding ?? (kernelSize - 1) / 2
    }

    public var outputChannels: Int { weight.value.shape[0] }
    public var inputChannels: Int { weight.value.shape[1] }
    public var kernelSize: Int { weight.value.shape[2] }

    /// Output steps for `steps` input steps (at least 1 when the padded input holds a kernel).
    public func outputSteps(_ steps: Int) -> Int { (steps + 2 * padding - kernelSize) / stride + 1 }

    /// The gathered rows `[N T', C K]` the backward needs for dW, and the input's shape.
    public struct Cache: Sendable {
        let columns: [Float]
        let shape: [Int]
    }

    public func forward(_ x: Tensor) -> (output: Tensor, cache: Cache) {
        precondition(x.rank == 3 && x.shape[2] == inputChannels, "Conv1D: input \(x.shape), expected [N, T, \(inputChannels)]")
        precondition(x.shape[1] + 2 * padding >= kernelSize, "Conv1D: \(x.shape[1]) steps are fewer than the kernel's \(kernelSize)")
        let (n, t) = (x.shape[0], outputSteps(x.shape[1]))
        let columns = gather(x)
        let y = LinearMap.forward(columns, rows: n * t, weight: weight.value.values, outputs: outputChannels,
                                  bias: bias?.value.values)
        return (Tensor(shape: [n, t, outputChannels], values: y), Cache(columns: columns, shape: x.shape))
    }

    /// Accumulates dW and db; returns dx `[N, T, C]`.
    public func backward(_ dy: Tensor, cache: Cache) -> Tensor {
        backward(dy, cache: cache, parameterGradients: true)
    }

    /// Accumulates dW and db unless `parameterGradients` is false; returns dx `[N, T, C]`.
    public func backward(_ dy: Tensor, cache: Cache, parameterGradients: Bool) -> Tensor {
        let rows = cache.shape[0] * outputSteps(cache.shape[1])
        return scatter(linearBackward(dy.values, input: cache.columns, rows: rows, parameterGradients: parameterGradients),
                       shape: cache.shape)
    }

    /// columns[(n T' + t), c K + k] = x[n, t S + k - P, c] (0 outside the sequence).
    func gather(_ x: Tensor) -> [Float] {
        let (n, t, c, k) = (x.shape[0], x.shape[1], inputChannels, kernelSize)
        let (steps, stride, padding) = (outputSteps(t), self.stride, self.padding)
        var columns = [Float](repeating: 0, count: n * steps * c * k)
        columns.withUnsafeMutableBufferPointer { out in
            x.values.withUnsafeBufferPointer { input in
                for b in 0..<n {
                    for step in 0..<steps {
                        let row = (b * steps + step) * c * k
                        for j in 0..<k {
                            let source = step * stride + j - padding
                            guard source >= 0 && source < t else { continue }
                            let from = (b * t + source) * c
                            for channel in 0..<c { out[row + channel * k + j] = input[from + channel] }
                        }
                    }
                }
            }
        }
        return columns
    }

    /// The adjoint of `gather`: every column entry added back to the input step it came from.
    func scatter(_ columns: [Float], shape: [Int]) -> Tensor {
        let (n, t, c, k) = (shape[0], shape[1], inputChannels, kernelSize)
        let (steps, stride, padding) = (outputSteps(t), self.stride, self.padding)
        var dx = [Float](repeating: 0, count: n * t * c)
        dx.withUnsafeMutableBufferPointer { out in
            columns.withUnsafeBufferPointer { input in
                for b in 0..<n {
                    for step in 0..<steps {
                        let row = (b * steps + step) * c * k
                        for j in 0..<k {
                            let target = step * stride + j - padding
                            guard target >= 0 && target < t else { continue }
                            let to = (b * t + target) * c
                            for channel in 0..<c { out[to + channel] += input[row + channel * k + j] }
                        }
                    }
                }
            }
        }
        return Tensor(shape: shape, values: dx)
    }
}

/// A depthwise 1-D convolution (each channel its own K taps; PyTorch's Conv1d with
/// groups = C), "same" padding, stride 1: x `[N, T, C]`, W `[C, 1, K]`, b `[C]`, y `[N, T, C]`:
///
///     y[n, t, c] = b[c] + sum over k of W[c, 0, k] x[n, t + k - (K - 1) / 2, c]
///
/// ConvNeXt's token mixer: cheap (K multiplies per value), so it runs directly, the
/// channels innermost; sequences are shared among the workers.
public final class DepthwiseConv1D: WeightAndBias {
    public let weight: Parameter
    public let bias: Parameter?

    /// Weights and bias uniform in +-1/sqrt(K) (PyTorch's default for a depthwise Conv1d).
    public init(channels: Int, kernelSize: Int, bias: Bool = true, random: inout RandomNumbers) {
        precondition(kernelSize % 2 == 1, "DepthwiseConv1D: kernel size \(kernelSize) must be odd (same padding)")
        (weight, self.bias) = uniformParameters(weightShape: [channels, 1, kernelSize], fanIn: kernelSize,
                                                biasCount: bias ? channels : nil, random: &random)
    }

    public var channels: Int { weight.value.shape[0] }
    public var kernelSize: Int { weight.value.shape[2] }

    /// The cache is the input.
    public func forward(_ x: Tensor) -> (output: Tensor, cache: Tensor) {
        precondition(x.rank == 3 && x.shape[2] == channels, "DepthwiseConv1D: input \(x.shape), expected [N, T, \(channels)]")
        let (n, t, c, k) = (x.shape[0], x.shape[1], channels, kernelSize)
        let pad = (k - 1) / 2
        // Taps as [K, C], so that the innermost loop runs over channels.
        let taps = transposedTaps(weight.value.values)
        var y = [Float](repeating: 0, count: x.count)
        let bias = self.bias?.value.values ?? [Float](repeating: 0, count: c)
        x.values.withUnsafeBufferPointer { xs in
            y.withUnsafeMutableBufferPointer { ys in
                let (xp, yp) = (xs.baseAddress!, ys.baseAddress!)
                Workers.run(over: n) { _, sequences in
                    for b in sequences {
                        for step in 0..<t {
                            let out = yp + (b * t + step) * c
                            for channel in 0..<c { out[channel] = bias[channel] }
                            for j in 0..<k {
                                let source = step + j - pad
                                guard source >= 0 && source < t else { continue }
                                let input = xp + (b * t + source) * c
                                let tap = j * c
                                for channel in 0..<c { out[channel] += taps[tap + channel] * input[channel] }
                            }
                        }
                    }
                }
            }
        }
        return (Tensor(shape: x.shape, values: y), x)
    }

    /// Accumulates dW and db; returns dx `[N, T, C]`.
    public func backward(_ dy: Tensor, cache x: Tensor) -> Tensor {
        let (n, t, c, k) = (x.shape[0], x.shape[1], channels, kernelSize)
        let pad = (k - 1) / 2
        let taps = transposedTaps(weight.value.values)
        let parts = Workers.shares(of: n)
        var dx = [Float](repeating: 0, count: x.count)
        // Each share's dW `[K, C]` and db `[C]`, added up afterwards.
        var dTaps = [Float](repeating: 0, count: parts * k * c)
        var dBias = [Float](repeating: 0, count: parts * c)
        x.values.withUnsafeBufferPointer { xs in
            dy.values.withUnsafeBufferPointer { dys in
                dx.withUnsafeMutableBufferPointer { dxs in
                    dTaps.withUnsafeMutableBufferPointer { dts in
                        dBias.withUnsafeMutableBufferPointer { dbs in
                            let (xp, dyp, dxp, dtp, dbp) = (xs.baseAddress!, dys.baseAddress!, dxs.baseAddress!,
                                                            dts.baseAddress!, dbs.baseAddress!)
                            Workers.run(over: n) { part, sequences in
                                let (myTaps, myBias) = (dtp + part * k * c, dbp + part * c)
                                for b in sequences {
                                    for step in 0..<t {
                                        let gradient = dyp + (b * t + step) * c
                                        // 1. db[c] += dy[n, t, c]
                                        for channel in 0..<c { myBias[channel] += gradient[channel] }
                                        for j in 0..<k {
                                            let source = step + j - pad
                                            guard source >= 0 && source < t else { continue }
                                            let (input, dInput) = (xp + (b * t + source) * c, dxp + (b * t + source) * c)
                                            let tap = j * c
                                            for channel in 0..<c {
                                                // 2. dW[c, k] += dy[n, t, c] x[n, t + k - pad, c]
                                                myTaps[tap + channel] += gradient[channel] * input[channel]
                                                // 3. dx[n, t + k - pad, c] += dy[n, t, c] W[c, k]
                                                dInput[channel] += gradient[channel] * taps[tap + channel]
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for part in 0..<parts {
            for j in 0..<k { for channel in 0..<c { weight.gradient.values[channel * k + j] += dTaps[(part * k + j) * c + channel] } }
            if let bias { for channel in 0..<c { bias.gradient.values[channel] += dBias[part * c + channel] } }
        }
        return Tensor(shape: x.shape, values: dx)
    }

    /// W `[C, 1, K]` as `[K, C]`.
    private func transposedTaps(_ w: [Float]) -> [Float] {
        let (c, k) = (channels, kernelSize)
        var taps = [Float](repeating: 0, count: k * c)
        for channel in 0..<c { for j in 0..<k { taps[j * c + channel] = w[channel * k + j] } }
        return taps
    }
}
