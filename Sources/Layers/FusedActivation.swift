import CLayerKernels
import Tensors
import WorkerPool

/// An activation a convolution layer applies to its output in the same pass as the bias (on
/// oneDNN a post-op of the convolution itself), so that the output is written once. Each
/// one's derivative is read from its output: ReLU and LeakyReLU keep the sign of their input
/// (for a positive slope), and tanh' = 1 - y^2.
public enum FusedActivation: Hashable, Sendable {
    case relu
    case leakyReLU(slope: Float)
    case tanh

    /// A rectifier's slope below 0 (ReLU 0), nil for tanh: what BatchNorm and oneDNN's ReLU
    /// post-op take.
    var rectifierSlope: Float? {
        switch self {
        case .relu: 0
        case .leakyReLU(let slope): slope
        case .tanh: nil
        }
    }

    /// dL/dx for dL/dy `dy` at the output `y` (`Activation`'s backwards: a rectifier's output
    /// has its input's sign).
    func backward(_ dy: Tensor, output y: Tensor) -> Tensor {
        switch self {
        case .relu: Activation.reluBackward(dy, cache: y)
        case .leakyReLU(let slope): Activation.leakyReLUBackward(dy, cache: y, slope: slope)
        case .tanh: Activation.tanhBackward(dy, cache: y)
        }
    }

    /// `backward` for an `[N, O, ...]` layer output and, in the same pass, each channel's sum of
    /// the result (the bias's gradient, summed as `accumulateChannelSums` sums). One pass
    /// instead of two over the layer's largest tensors.
    func backwardWithChannelSums(_ dy: Tensor, output y: Tensor) -> (gradient: Tensor, sums: [Float]) {
        precondition(dy.shape == y.shape)
        let (kind, slope) = rectifierSlope.map { (Int32(MF_RECTIFIER), $0) } ?? (Int32(MF_TANH), 0)
        var gradient = Tensor(shape: dy.shape, values: uninitializedFloats(dy.count))
        var sums = [Float](repeating: 0, count: dy.shape[1])
        dy.values.withUnsafeBufferPointer { dyBuffer in
            y.values.withUnsafeBufferPointer { yBuffer in
                gradient.values.withUnsafeMutableBufferPointer { out in
                    let (dys, ys, outs) = (dyBuffer.baseAddress!, yBuffer.baseAddress!, out.baseAddress!)
                    sumChannels(dy.shape, into: &sums) { start, count in
                        mf_activation_backward_sum(dys + start, ys + start, outs + start, count, kind, slope)
                    }
                }
            }
        }
        return (gradient, sums)
    }
}

/// sums[o] += sum over n and positions of dy[n, o, ...]; channels shared among the workers.
func accumulateChannelSums(_ dy: Tensor, into sums: inout [Float]) {
    dy.values.withUnsafeBufferPointer { buffer in
        let values = buffer.baseAddress!
        sumChannels(dy.shape, into: &sums) { mf_sum(values + $0, $1) }
    }
}

/// sums[o] += the sum over n of `rowSum(start, count)` for each (n, o) row of an `[N, O, ...]`
/// tensor (row n, o at `start` = (n O + o) count); channels shared among the workers.
@inline(__always)
func sumChannels(_ shape: [Int], into sums: inout [Float], _ rowSum: (_ start: Int, _ count: Int) -> Float) {
    let (n, o) = (shape[0], shape[1])
    let count = shape.reduce(1, *)
    let inner = count / max(1, n * o)
    sums.withUnsafeMutableBufferPointer { totals in
        let totals = totals.baseAddress!
        func add(_ channels: Range<Int>) {
            for channel in channels {
                var total: Float = 0
                for b in 0..<n { total += rowSum((b * o + channel) * inner, inner) }
                totals[channel] += total
            }
        }
        if count < Workers.elementwiseThreshold { add(0..<o) } else { Workers.run(over: o) { add($1) } }
    }
}

/// y[n, o, ...] = activation(y[n, o, ...] + bias[o]) for an `[N, O, ...]` tensor, in one pass
/// shared among the workers (either step may be absent).
func finishOutput(_ y: inout Tensor, bias: [Float]?, activation: FusedActivation?) {
    guard bias != nil || activation != nil else { return }
    let (n, o) = (y.shape[0], y.shape[1])
    let (count, inner) = (y.count, y.count / max(1, n * o))
    y.values.withUnsafeMutableBufferPointer { buffer in
        let values = buffer.baseAddress!
        let finish = { (rows: Range<Int>) in
            for row in rows {
                let shift = bias?[row % o] ?? 0
                let start = values + row * inner
                switch activation {
                case nil: for i in 0..<inner { start[i] += shift }
                case .relu: for i in 0..<inner { start[i] = max(0, start[i] + shift) }
                case .leakyReLU(let slope):
                    for i in 0..<inner {
                        let v = start[i] + shift
                        start[i] = v > 0 ? v : slope * v
                    }
                case .tanh: vectorTanhInPlace(start, count: inner, shift: bias == nil ? nil : shift)
                }
            }
        }
        if count < Workers.elementwiseThreshold { finish(0..<n * o) } else { Workers.run(over: n * o) { finish($1) } }
    }
}
