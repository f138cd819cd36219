import Spectral
import XCTest

/// The STFT's adjoints satisfy <A x, y> = <x, A^T y> for random x and y, the definition of the
/// transpose; in Double the two sides agree to float32 rounding.
final class STFTAdjointTests: XCTestCase {
    private func randomValues(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001) / 1_000_000 - 1
        }
    }

    private func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    func testTransformAdjoint() throws {
        for (center, padMode, count) in [(true, PadMode.constant, 1000), (true, .reflect, 777), (false, .constant, 600)] {
            let stft = try STFT(nFFT: 64, hopLength: 16, winLength: 48, center: center, padMode: padMode)
            let x = randomValues(count, seed: 1)
            let forward = try stft.transform(x)
            let y = ComplexSpectrogram(bins: forward.bins, frames: forward.frames,
                                       real: randomValues(forward.real.count, seed: 2),
                                       imaginary: randomValues(forward.real.count, seed: 3))
            let left = dot(forward.real, y.real) + dot(forward.imaginary, y.imaginary)
            let right = dot(x, stft.transformAdjoint(y, samples: count))
            XCTAssertEqual(left, right, accuracy: 1e-4 * max(1, abs(left)), "center \(center), \(padMode)")
        }
    }

    func testInverseAdjoint() throws {
        for (center, frames, length) in [(true, 20, nil as Int?), (true, 20, 250), (false, 15, nil)] {
            let stft = try STFT(nFFT: 32, hopLength: 8, center: center)
            let s = ComplexSpectrogram(bins: stft.bins, frames: frames, real: randomValues(stft.bins * frames, seed: 4),
                                       imaginary: randomValues(stft.bins * frames, seed: 5))
            let x = try stft.inverse(s, length: length)
            let y = randomValues(x.count, seed: 6)
            let back = stft.inverseAdjoint(y, frames: frames)
            let left = dot(x, y)
            let right = dot(s.real, back.real) + dot(s.imaginary, back.imaginary)
            XCTAssertEqual(left, right, accuracy: 1e-4 * max(1, abs(left)), "center \(center), length \(String(describing: length))")
        }
    }
}
