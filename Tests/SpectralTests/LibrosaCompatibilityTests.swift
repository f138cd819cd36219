import AudioIO
import FileFormats
import Spectral
import TestSupport
import XCTest

/// Compares MelForge's front end with librosa 0.11 on the committed fixtures.
///
/// Tolerances: filter banks are computed in Double and stored in Float32 on both sides,
/// so they agree to float32 rounding (1e-6 absolute; the largest weights are ~0.03).
/// STFT magnitudes come from different float32 FFTs (FFTW vs pocketfft), whose error
/// grows like log2(nFFT) * eps * ||frame||: 1e-4 absolute on magnitudes up to ~130.
/// dB values are compared where the level is within 80 dB of the peak, at 1e-2 dB;
/// below that, float32 rounding of near-zero power dominates.
final class LibrosaCompatibilityTests: XCTestCase {
    func testMelFilterbanksMatchLibrosa() throws {
        let cases: [(String, Int, Int, Int, Double, Double?, MelScale, MelNorm)] = [
            ("mel_slaney_sr16000_nfft1024_m80", 16_000, 1_024, 80, 0, nil, .slaney, .slaney),
            ("mel_htk_sr22050_nfft2048_m128_f50-8000", 22_050, 2_048, 128, 50, 8_000, .htk, .slaney),
            ("mel_htk_sr16000_nfft512_m40_nonorm", 16_000, 512, 40, 0, nil, .htk, .none),
            ("mel_slaney_sr8000_nfft256_m32_f100-3800_nonorm", 8_000, 256, 32, 100, 3_800, .slaney, .none),
        ]
        for (name, sampleRate, nFFT, nMels, fMin, fMax, scale, norm) in cases {
            let bank = try MelFilterbank(sampleRate: sampleRate, nFFT: nFFT, nMels: nMels, fMin: fMin, fMax: fMax,
                                         scale: scale, norm: norm)
            try assertMatchesFixture(name, rows: nMels, columns: nFFT / 2 + 1, values: bank.weights, absolute: 1e-6)
            XCTAssertEqual(bank.emptyFilters, [], name)
        }
    }

    func testSparseBandsEqualDenseWeights() throws {
        let bank = try MelFilterbank(sampleRate: 16_000, nFFT: 1_024, nMels: 80)
        var dense = [Float](repeating: 0, count: bank.weights.count)
        for (m, band) in bank.bands.enumerated() {
            for (i, w) in band.weights.enumerated() { dense[m * bank.bins + band.start + i] = w }
        }
        XCTAssertEqual(dense, bank.weights)
    }

    func testSTFTMagnitudeMatchesLibrosa() throws {
        let signal = try Fixture.array("signal_4000").values
        let cases: [(String, STFT)] = [
            ("stft_mag_nfft512_hop128_hann_center_constant", try STFT(nFFT: 512, hopLength: 128)),
            ("stft_mag_nfft512_hop100_win400_hamming_center_reflect",
             try STFT(nFFT: 512, hopLength: 100, winLength: 400, window: .hamming, padMode: .reflect)),
            ("stft_mag_nfft256_hop64_blackman_nocenter",
             try STFT(nFFT: 256, hopLength: 64, window: .blackman, center: false)),
        ]
        for (name, stft) in cases {
            let magnitude = try stft.magnitude(signal)
            try assertMatchesFixture(name, rows: magnitude.bins, columns: magnitude.frames,
                                     values: magnitude.values, absolute: 1e-4)
        }
    }

    func testLoadMixesAndResamplesAsLibrosaLoad() throws {
        // librosa.load: soundfile decode, mean of channels, soxr "HQ" resampling.
        let clip = try AudioFile.read(Fixture.path("stereo_44100_pcm24.wav"), sampleRate: 16_000)
        let expected = try Fixture.array("load_stereo_44100_at_16000").values
        XCTAssertEqual(clip.source.sampleRate, 44_100)
        XCTAssertEqual(clip.source.channels, 2)
        assertClose(clip.samples, expected, absolute: 1e-5)
    }

    func testDefaultLogMelMatchesLibrosa() throws {
        let frontEnd = try MelFrontEnd(FrontEndConfiguration())
        for (name, path) in [
            ("logmel_default_digit_seven", repositoryRoot + "/Audio/digits/seven/en-us+f2_s165_p50.wav"),
            ("logmel_default_stereo_44100", Fixture.path("stereo_44100_pcm24.wav")),
        ] {
            let clip = try AudioFile.read(path, sampleRate: 16_000)
            let logMel = try frontEnd.features(clip.samples)
            let expected = try Fixture.array(name)
            XCTAssertEqual(expected.shape, [logMel.bins, logMel.frames], name)
            let peak = expected.values.max()!
            var worst: Float = 0
            var compared = 0
            for i in expected.values.indices where expected.values[i] > peak - 80 {
                worst = max(worst, abs(logMel.values[i] - expected.values[i]))
                compared += 1
            }
            XCTAssertGreaterThan(compared, expected.values.count / 5, "\(name): too few loud cells to compare")
            print("\(name): max abs dB difference \(worst) over \(compared) cells within 80 dB of the peak")
            XCTAssertLessThan(worst, 1e-2, "\(name): max |dB difference| within 80 dB of the peak")
        }
    }

    func testAmplitudeToDbWithTopDbMatchesLibrosa() throws {
        var configuration = FrontEndConfiguration()
        configuration.nFFT = 512
        configuration.hopLength = 128
        configuration.nMels = 40
        configuration.power = 1
        configuration.melScale = .htk
        configuration.fMin = 20
        configuration.fMax = 7_000
        configuration.topDB = 60
        let features = try MelFrontEnd(configuration).features(try Fixture.array("signal_4000").values)
        try assertMatchesFixture("amplitude_db_htk_m40_topdb60", rows: 40, columns: features.frames,
                                 values: features.values, absolute: 1e-2)
    }
}
