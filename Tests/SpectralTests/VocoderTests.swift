import Spectral
import TestSupport
import XCTest

/// The vocoder's undoing of the front end's scaling, and the whole path on a clip.
final class VocoderTests: XCTestCase {
    /// dB (and the [-1, 1] normalisation) undone give back the mel spectrogram the front end
    /// computed, for power 2 and power 1 front ends. Tolerance: float32 dB values near
    /// -100 dB carry 1e-5 relative error through 10^(x/10); only cells above the amin floor
    /// can come back, so those are compared.
    func testUndoesDecibelsAndNormalisationExactly() throws {
        let signal = testSignal(count: 12_000)
        for power: Float in [2, 1] {
            var configuration = FrontEndConfiguration()
            configuration.power = power
            let vocoder = try Vocoder(configuration: configuration)
            let mel = try vocoder.frontEnd.melSpectrogram(signal)
            var features = try vocoder.frontEnd.features(signal)
            let normalization = try LogMelNormalization.fitted(to: features.values)
            normalization.normalize(&features.values)

            let back = try vocoder.melSpectrogram(fromFeatures: features, normalization: normalization)
            let floor = power == 2 ? configuration.amin : configuration.amin.squareRoot()
            var worst: Float = 0
            for (a, b) in zip(back.values, mel.values) where b > 10 * floor {
                worst = max(worst, abs(a - b) / b)
            }
            XCTAssertLessThan(worst, 1e-4, "power \(power): worst relative error \(worst)")
        }
    }

    func testRejectsFeaturesThatCannotBeUndone() throws {
        let vocoder = try Vocoder(configuration: FrontEndConfiguration())
        XCTAssertThrowsError(try vocoder.melSpectrogram(fromFeatures: Spectrogram(bins: 64, frames: 2)))
        var outside = Spectrogram(bins: 80, frames: 2)
        outside[1, 1] = 3
        XCTAssertThrowsError(try vocoder.melSpectrogram(
            fromFeatures: outside, normalization: try LogMelNormalization(minDB: -80, maxDB: 0))) {
            XCTAssertTrue("\($0)".contains("[-1, 1]"), "\($0)")
        }
    }

    func testFeaturesToSoundAndBack() throws {
        let vocoder = try Vocoder(configuration: FrontEndConfiguration())
        let signal = (0..<16_000).map { n in
            Float(0.4 * sin(2 * Double.pi * 300 * Double(n) / 16_000) + 0.2 * sin(2 * Double.pi * 1_700 * Double(n) / 16_000))
        }
        let (magnitude, result) = try vocoder.synthesize(features: try vocoder.frontEnd.features(signal), length: 16_000)
        XCTAssertEqual(result.samples.count, 16_000)
        XCTAssertEqual(magnitude.bins, 513)
        let sc = try vocoder.spectralConvergence(of: result.samples, against: try vocoder.frontEnd.stft.magnitude(signal))
        XCTAssertLessThan(sc, 0.3)
    }
}
