/// Sums over rows of floats, sixteen at a time: a single running sum waits on each
/// addition's latency (4 cycles), and the compiler may not reorder a float sum to vectorise it,
/// so these keep sixteen running sums and add them up at the end. Callers that must agree
/// exactly sum in the same order through the same function.

/// Sixteen floats: an AVX-512 register (two AVX2 ones).
typealias Lanes = SIMD16<Float>

extension SIMD16<Float> {
    @inline(__always)
    init(_ pointer: UnsafePointer<Float>) { self = UnsafeRawPointer(pointer).loadUnaligned(as: Lanes.self) }
}

/// Writes `lanes` at `pointer` and returns them (to be summed as they are stored).
@inline(__always)
func store(_ lanes: Lanes, _ pointer: UnsafeMutablePointer<Float>) -> Lanes {
    UnsafeMutableRawPointer(pointer).storeBytes(of: lanes, as: Lanes.self)
    return lanes
}

/// The sum of `count` values, `lanes(i)` giving i..<i+16 and `tail(i)` one of the last
/// count % 16.
@inline(__always)
func laneSum(_ count: Int, lanes: (Int) -> Lanes, tail: (Int) -> Float) -> Float {
    var running = Lanes()
    var i = 0
    while i + Lanes.scalarCount <= count {
        running += lanes(i)
        i += Lanes.scalarCount
    }
    var total = running.sum()
    while i < count {
        total += tail(i)
        i += 1
    }
    return total
}

/// Two sums of `count` values at once (`laneSum`'s, in the same order).
@inline(__always)
func laneSums(_ count: Int, lanes: (Int) -> (Lanes, Lanes), tail: (Int) -> (Float, Float)) -> (Float, Float) {
    var (first, second) = (Lanes(), Lanes())
    var i = 0
    while i + Lanes.scalarCount <= count {
        let (a, b) = lanes(i)
        first += a
        second += b
        i += Lanes.scalarCount
    }
    var (totalA, totalB) = (first.sum(), second.sum())
    while i < count {
        let (a, b) = tail(i)
        totalA += a
        totalB += b
        i += 1
    }
    return (totalA, totalB)
}
