import Foundation
import Spectral
import XCTest

final class SpectralMeasuresTests: XCTestCase {
    let rate = 16_000

    func magnitude(_ signal: [Float], center: Bool = false) throws -> (Spectrogram, STFT) {
        let stft = try STFT(nFFT: 1_024, hopLength: 256, center: center)
        return (try stft.magnitude(signal), stft)
    }

    func sine(_ frequency: Double, amplitude: Float) -> [Float] {
        (0..<rate).map { amplitude * Float(sin(2 * Double.pi * frequency * Double($0) / Double(rate))) }
    }

    func testLevelOfASineASquareAndSilence() throws {
        // A sine of amplitude A has mean square A^2 / 2: 20 log10(0.5 / sqrt 2) = -9.03 dB.
        let (sineMagnitude, stft) = try magnitude(sine(1_000, amplitude: 0.5))
        XCTAssertEqual(SpectralMeasures.level(sineMagnitude, stft: stft), 20 * log10(0.5 / 2.0.squareRoot()), accuracy: 0.05)
        // A full-scale square wave (period 32 samples) is 0 dB.
        let (squareMagnitude, _) = try magnitude((0..<rate).map { $0 % 32 < 16 ? 1 : -1 })
        XCTAssertEqual(SpectralMeasures.level(squareMagnitude, stft: stft), 0, accuracy: 0.05)
        // Halving the amplitude is -6.02 dB.
        let (half, _) = try magnitude(sine(1_000, amplitude: 0.25))
        XCTAssertEqual(SpectralMeasures.level(sineMagnitude, stft: stft) - SpectralMeasures.level(half, stft: stft),
                       20 * log10(2), accuracy: 1e-3)
        let (silence, _) = try magnitude([Float](repeating: 0, count: rate))
        XCTAssertEqual(SpectralMeasures.level(silence, stft: stft), -120)
    }

    func testCentroidOfSinesAndSilence() throws {
        let (one, _) = try magnitude(sine(1_000, amplitude: 0.5))
        XCTAssertEqual(SpectralMeasures.centroid(one, sampleRate: rate, nFFT: 1_024), 1_000, accuracy: 5)
        // Two sines of equal amplitude: the magnitude-weighted mean of 500 and 2,000 Hz.
        let a = sine(500, amplitude: 0.3), b = sine(2_000, amplitude: 0.3)
        let (two, _) = try magnitude(zip(a, b).map(+))
        XCTAssertEqual(SpectralMeasures.centroid(two, sampleRate: rate, nFFT: 1_024), 1_250, accuracy: 10)
        let (silence, _) = try magnitude([Float](repeating: 0, count: rate))
        XCTAssertEqual(SpectralMeasures.centroid(silence, sampleRate: rate, nFFT: 1_024), 0)
    }
}
