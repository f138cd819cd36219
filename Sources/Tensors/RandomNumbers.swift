import Foundation

/// A seeded random number generator whose stream is the same on every machine and run:
/// xoshiro256** (Blackman & Vigna 2018), seeded through SplitMix64. Its whole state is four
/// words (`state`), so a training run can store it in a checkpoint and resume the very
/// same stream.
public struct RandomNumbers: RandomNumberGenerator, Sendable, Equatable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var mix = seed
        func splitMix() -> UInt64 {
            mix &+= 0x9E37_79B9_7F4A_7C15
            var z = mix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = [splitMix(), splitMix(), splitMix(), splitMix()]
    }

    /// Resumes a stream from a stored `state`.
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
        self.state = state
    }

    public mutating func next() -> UInt64 {
        let result = rotate(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotate(state[3], 45)
        return result
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Shuffles `elements` in place (Fisher-Yates from the end, index i swapped with
    /// next() mod (i + 1)): the same permutation for the same state on every machine, unlike the
    /// standard library's `shuffle(using:)`, whose algorithm is not promised.
    public mutating func shuffle<Element>(_ elements: inout [Element]) {
        for i in stride(from: elements.count - 1, to: 0, by: -1) { elements.swapAt(i, Int(next() % UInt64(i + 1))) }
    }

    /// A whole number in 0...upTo (next() mod (upTo + 1)); 0, drawing nothing, when upTo <= 0.
    public mutating func integer(upTo: Int) -> Int {
        upTo <= 0 ? 0 : Int(next() % UInt64(upTo + 1))
    }

    /// A run of 0...maxLength consecutive places inside 0..<size (its length drawn first, then
    /// its start): a mask's position, as SpecAugment draws them.
    public mutating func run(maxLength: Int, within size: Int) -> Range<Int> {
        let length = integer(upTo: maxLength)
        let start = integer(upTo: max(0, size - length))
        return start..<min(size, start + length)
    }

    /// Uniform in [0, 1), 24 random bits.
    public mutating func uniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216)
    }

    /// Two independent standard normal values, by Box-Muller.
    public mutating func normalPair() -> (Float, Float) {
        // u1 in (0, 1] so that log(u1) is finite.
        let u1 = (Double(next() >> 11) + 1) * (1.0 / 9_007_199_254_740_992)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992)
        let radius = (-2 * log(u1)).squareRoot()
        return (Float(radius * cos(2 * Double.pi * u2)), Float(radius * sin(2 * Double.pi * u2)))
    }

    /// A standard normal value (the pair's second value is dropped, so that the stream's
    /// whole state stays the four words of `state`).
    public mutating func normal() -> Float { normalPair().0 }

    /// A tensor of normal values with mean `mean` and standard deviation `deviation`.
    public mutating func normal(_ shape: [Int], mean: Float = 0, deviation: Float = 1) -> Tensor {
        let count = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            let (a, b) = normalPair()
            values[i] = mean + deviation * a
            if i + 1 < count { values[i + 1] = mean + deviation * b }
            i += 2
        }
        return Tensor(shape: shape, values: values)
    }

    /// A tensor of values uniform in [low, high).
    public mutating func uniform(_ shape: [Int], low: Float = 0, high: Float = 1) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(shape: shape, values: (0..<count).map { _ in low + (high - low) * uniform() })
    }
}
