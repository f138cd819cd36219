import Foundation
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
                case .tanh: for i in 0..<inner { start[i] = Foundation.tanh(start[i] + shift) }
                }
            }
        }
        if count < Workers.elementwiseThreshold { finish(0..<n * o) } else { Workers.run(over: n * o) { finish($1) } }
    }
}
