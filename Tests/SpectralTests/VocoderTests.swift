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
            let vocoder = try GriffinLimVocoder(configuration: configuration)
            let mel = try vocoder.frontEnd.melSpectrogram(signal)
            var features = try vocoder.frontEnd.features(signal)
            let normalization = try LogMelNormalization.fitted(to: features.values)
            normalization.normalize(&features.values)

            let back = try vocoder.inversion.melSpectrogram(fromFeatures: features, normalization: normalization)
            let floor = power == 2 ? configuration.amin : configuration.amin.squareRoot()
            var worst: Float = 0
            for (a, b) in zip(back.values, mel.values) where b > 10 * floor {
                worst = max(worst, abs(a - b) / b)
            }
            XCTAssertLessThan(worst, 1e-4, "power \(power): worst relative error \(worst)")
        }
    }

    func testRejectsFeaturesThatCannotBeUndone() throws {
        let vocoder = try GriffinLimVocoder(configuration: FrontEndConfiguration())
        XCTAssertThrowsError(try vocoder.inversion.melSpectrogram(fromFeatures: Spectrogram(bins: 64, frames: 2)))
        var outside = Spectrogram(bins: 80, frames: 2)
        outside[1, 1] = 3
        XCTAssertThrowsError(try vocoder.inversion.melSpectrogram(
            fromFeatures: outside, normalization: try LogMelNormalization(minDB: -80, maxDB: 0))) {
            XCTAssertTrue("\($0)".contains("[-1, 1]"), "\($0)")
        }
    }

    func testFeaturesToSoundAndBack() throws {
        let vocoder = try GriffinLimVocoder(configuration: FrontEndConfiguration())
        let signal = (0..<16_000).map { n in
            Float(0.4 * sin(2 * Double.pi * 300 * Double(n) / 16_000) + 0.2 * sin(2 * Double.pi * 1_700 * Double(n) / 16_000))
        }
        let result = try vocoder.synthesize(try vocoder.frontEnd.features(signal), normalization: nil, length: 16_000)
        XCTAssertEqual(result.samples.count, 16_000)
        XCTAssertEqual(result.magnitude?.bins, 513)
        let sc = try spectralConvergence(of: result.samples, against: try vocoder.frontEnd.stft.magnitude(signal),
                                         stft: vocoder.frontEnd.stft)
        XCTAssertLessThan(sc, 0.3)
    }

    /// A batch through the protocol gives the clips one-by-one synthesis gives.
    func testBatchIsOneByOne() throws {
        let vocoder = try GriffinLimVocoder(configuration: FrontEndConfiguration(), griffinLimIterations: 4)
        let clips = try [300.0, 900.0, 2_000.0].map { hz in
            try vocoder.frontEnd.features((0..<8_000).map { Float(0.3 * sin(2 * Double.pi * hz * Double($0) / 16_000)) })
        }
        let batch = try vocoder.synthesize(clips, normalization: nil, threads: 2)
        for (clip, together) in zip(clips, batch) {
            let alone = try vocoder.synthesize(clip, normalization: nil, length: nil)
            XCTAssertEqual(together.samples, alone.samples)
            XCTAssertEqual(together.convergence, alone.convergence)
        }
    }
}
