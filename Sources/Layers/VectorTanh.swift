import CLayerKernels
import WorkerPool

// tanh for the generator's output layer (twice a GAN step): glibc's tanhf calls expm1f for
// each value, 2.6% of a bf16 GAN step's CPU time; `mf_tanh` is a vectorised one within 2
// ulp of it (CLayerKernels).

/// values[i] = tanh(values[i] + shift) for i in 0..<count (no addition without a shift:
/// -0 + 0 would be +0).
func vectorTanhInPlace(_ values: UnsafeMutablePointer<Float>, count: Int, shift: Float? = nil) {
    guard var shift else { return mf_tanh(values, count, nil) }
    mf_tanh(values, count, &shift)
}

/// tanh of every value, shared among the workers for large arrays.
func vectorTanh(_ x: [Float]) -> [Float] {
    var y = x
    y.withUnsafeMutableBufferPointer { buffer in
        let values = buffer.baseAddress!
        if x.count < Workers.elementwiseThreshold {
            vectorTanhInPlace(values, count: x.count)
        } else {
            Workers.run(over: x.count) { vectorTanhInPlace(values + $1.lowerBound, count: $1.count) }
        }
    }
    return y
}

/// tanh of one value, the same arithmetic as for an array.
func vectorTanh(_ x: Float) -> Float { vectorTanh([x])[0] }
