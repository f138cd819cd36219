import Spectral
import TestSupport
import XCTest

/// Griffin-Lim against librosa.griffinlim (zero initial phase, so both sides start alike)
/// and its defining properties.
///
/// Tolerance: both sides run float32 FFTs that differ in rounding, and each iteration
/// feeds on the last, so differences grow with iterations: 1e-4 of the signal's peak
/// after 1 iteration, 2e-3 after 8 (measured max: see the assertion messages).
final class GriffinLimTests: XCTestCase {
    func testMatchesLibrosaWithZeroInitialPhase() throws {
        let magnitude = try Fixture.array("gl_input_magnitude_nfft512_hop128")
        let spectrogram = Spectrogram(bins: magnitude.shape[0], frames: magnitude.shape[1], values: magnitude.values)
        let stft = try STFT(nFFT: 512, hopLength: 128)
        for momentum: Float in [0, 0.99] {
            for (iterations, tolerance) in [(1, Float(1e-4)), (8, 2e-3)] {
                let expected = try Fixture.array("gl_zero_init_momentum\(momentum == 0 ? "0.0" : "0.99")_iter\(iterations)").values
                let griffinLim = try GriffinLim(stft: stft, iterations: iterations, momentum: momentum, initialPhase: .zero)
                let result = try griffinLim.reconstruct(spectrogram, length: 4_000)
                let peak = expected.map(abs).max()!
                assertClose(result.samples, expected, absolute: tolerance * peak,
                            "momentum \(momentum), \(iterations) iterations, maxdiff/peak \(maxAbsDifference(result.samples, expected) / peak)")
            }
        }
    }

    func testPlainGriffinLimNeverGetsWorse() throws {
        let stft = try STFT(nFFT: 512, hopLength: 128)
        let magnitude = try stft.magnitude(testSignal(count: 8_000))
        let result = try GriffinLim(stft: stft, iterations: 30, momentum: 0, initialPhase: .random(seed: 3),
                                    recordsConvergence: true).reconstruct(magnitude, length: 8_000)
        XCTAssertEqual(result.convergence.count, 30)
        for (before, after) in zip(result.convergence, result.convergence.dropFirst()) {
            XCTAssertLessThanOrEqual(after, before * (1 + 1e-5), "SC rose: \(result.convergence)")
        }
        XCTAssertLessThan(result.convergence.last!, result.convergence.first!)
    }

    func testMomentumConvergesFasterAndOutputIsSane() throws {
        let stft = try STFT(nFFT: 1_024, hopLength: 256, padMode: .reflect)
        let magnitude = try stft.magnitude(testSignal(count: 16_000))
        let plain = try GriffinLim(stft: stft, iterations: 32, momentum: 0).reconstruct(magnitude, length: 16_000)
        let fast = try GriffinLim(stft: stft, iterations: 32, momentum: 0.99).reconstruct(magnitude, length: 16_000)
        XCTAssertLessThan(fast.finalConvergence, plain.finalConvergence)
        XCTAssertLessThan(fast.finalConvergence, 0.2)  // the test signal is 10% noise
        XCTAssertEqual(fast.samples.count, 16_000)
        XCTAssertTrue(fast.samples.allSatisfy(\.isFinite))
        // Without a length: the iSTFT's natural length, hop * (frames - 1).
        XCTAssertEqual(try GriffinLim(stft: stft, iterations: 2).reconstruct(magnitude).samples.count, 256 * 62)
    }

    func testPureToneSurvivesAtItsFrequency() throws {
        // 1 kHz at 16 kHz: after reconstruction the spectrum still peaks at bin 64 of 1024.
        let tone = (0..<16_000).map { Float(0.5 * sin(2 * Double.pi * 1_000 * Double($0) / 16_000)) }
        let stft = try STFT(nFFT: 1_024, hopLength: 256)
        let result = try GriffinLim(stft: stft).reconstruct(try stft.magnitude(tone), length: 16_000)
        let rebuilt = try stft.magnitude(result.samples)
        let middle = rebuilt.frames / 2
        let column = (0..<rebuilt.bins).map { rebuilt[$0, middle] }
        XCTAssertEqual(column.indices.max { column[$0] < column[$1] }, 64)
        let rms = (result.samples[4_000..<12_000].reduce(0) { $0 + $1 * $1 } / 8_000).squareRoot()
        XCTAssertEqual(Double(rms), 0.5 / 2.0.squareRoot(), accuracy: 0.02)
    }

    func testBatchEqualsOneByOneAndSeedsRepeat() throws {
        let stft = try STFT(nFFT: 512, hopLength: 128)
        let magnitudes = try (1...5).map { try stft.magnitude(testSignal(count: 3_000 + 500 * $0, seed: UInt64($0))) }
        let griffinLim = try GriffinLim(stft: stft, iterations: 5, initialPhase: .random(seed: 7))
        let batch = try griffinLim.reconstruct(magnitudes, threads: 2)
        for (magnitude, result) in zip(magnitudes, batch) {
            XCTAssertEqual(try griffinLim.reconstruct(magnitude).samples, result.samples)
        }
        let other = try GriffinLim(stft: stft, iterations: 5, initialPhase: .random(seed: 8)).reconstruct(magnitudes[0])
        XCTAssertNotEqual(other.samples, batch[0].samples)
    }

    func testEarlyStopEndsWhenProgressStalls() throws {
        let stft = try STFT(nFFT: 512, hopLength: 128)
        let magnitude = try stft.magnitude(testSignal(count: 4_000))
        let result = try GriffinLim(stft: stft, iterations: 500, momentum: 0, stopTolerance: 1e-2).reconstruct(magnitude)
        XCTAssertLessThan(result.iterations, 500)
        XCTAssertEqual(result.convergence.count, result.iterations)
        // Unrecorded by default: only the output's own SC.
        let plain = try GriffinLim(stft: stft, iterations: 3).reconstruct(magnitude)
        XCTAssertEqual(plain.iterations, 3)
        XCTAssertEqual(plain.convergence, [])
        XCTAssertGreaterThan(plain.finalConvergence, 0)
    }

    func testBadInputIsRejectedWithItsName() throws {
        let stft = try STFT(nFFT: 512, hopLength: 128)
        XCTAssertThrowsError(try GriffinLim(stft: stft, momentum: -1)) {
            XCTAssertTrue("\($0)".contains("momentum = -1.0"), "\($0)")
        }
        let griffinLim = try GriffinLim(stft: stft)
        XCTAssertThrowsError(try griffinLim.reconstruct(Spectrogram(bins: 100, frames: 4))) {
            XCTAssertTrue("\($0)".contains("magnitude bins = 100"), "\($0)")
        }
        var bad = Spectrogram(bins: 257, frames: 4)
        bad[3, 2] = .nan
        XCTAssertThrowsError(try griffinLim.reconstruct(bad)) {
            XCTAssertTrue("\($0)".contains("bin 3, frame 2"), "\($0)")
        }
        bad[3, 2] = -1
        XCTAssertThrowsError(try griffinLim.reconstruct(bad))
        let fine = Spectrogram(bins: 257, frames: 4)
        XCTAssertThrowsError(try griffinLim.reconstruct(fine, length: 0)) {
            XCTAssertTrue("\($0)".contains("length = 0"), "\($0)")
        }
        XCTAssertThrowsError(try griffinLim.reconstruct([fine, fine], lengths: [100]))
    }
}
