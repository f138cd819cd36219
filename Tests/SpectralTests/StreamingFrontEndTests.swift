import Spectral
import TestSupport
import XCTest

/// Features of a signal read in blocks equal the whole-signal features exactly, for every
/// padding layout, whatever sizes the blocks come in.
final class StreamingFrontEndTests: XCTestCase {
    /// A chirp with noise, 3 s at 16 kHz.
    private let signal: [Float] = {
        var generator = SystemRandomNumberGenerator()
        return (0..<48_000).map { i in
            let t = Float(i) / 16_000
            return 0.5 * sin(2 * .pi * (200 + 900 * t) * t) + Float.random(in: -0.05...0.05, using: &generator)
        }
    }()

    /// Hands `signal` out in blocks of irregular sizes (a resampler's output varies).
    private func blocks(_ signal: [Float]) -> () -> [Float] {
        var position = 0
        var size = 1_000
        return {
            let end = min(signal.count, position + size)
            defer { position = end; size = size % 7_919 + 1_013 }
            return Array(signal[position..<end])
        }
    }

    func testEveryPaddingLayoutMatchesTheWholeSignal() throws {
        for (center, padMode, topDB) in [(true, PadMode.constant, nil), (true, .reflect, Float(60)), (false, .constant, nil)] as [(Bool, PadMode, Float?)] {
            for hop in [256, 160, 700] {
                var configuration = FrontEndConfiguration()
                configuration.center = center
                configuration.padMode = padMode
                configuration.topDB = topDB
                configuration.hopLength = hop
                let frontEnd = try MelFrontEnd(configuration)
                let whole = try frontEnd.features(signal, threads: 1)
                // 7-frame runs: the 3 s signal crosses dozens of run boundaries.
                let streamed = try frontEnd.features(streaming: blocks(signal), blockFrames: 7)
                let label = "center \(center) \(padMode) hop \(hop)"
                XCTAssertEqual(streamed.frames, whole.frames, label)
                XCTAssertEqual(streamed.values, whole.values, label)
            }
        }
    }

    func testShortAndEmptySignals() throws {
        let frontEnd = try MelFrontEnd(FrontEndConfiguration())
        XCTAssertThrowsError(try frontEnd.features(streaming: blocks([]), blockFrames: 16))  // as features([]) does
        for count in [100, 1_024, 5_000] {
            let part = Array(signal.prefix(count))
            let streamed = try frontEnd.features(streaming: blocks(part), blockFrames: 16)
            XCTAssertEqual(streamed, try frontEnd.features(part, threads: 1), "\(count) samples")
        }
    }
}
