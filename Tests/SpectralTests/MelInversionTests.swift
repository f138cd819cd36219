import Spectral
import TestSupport
import XCTest

/// NNLS mel -> linear against librosa.feature.inverse.mel_to_stft. The problem has many
/// exact solutions (40 equations per frame, 257 unknowns), so solvers differ in which one
/// they land on: the comparison is how well each explains the mel spectrogram, and how
/// close each is to the true magnitude.
final class MelInversionTests: XCTestCase {
    let bank = try! MelFilterbank(sampleRate: 16_000, nFFT: 512, nMels: 40)

    func testExplainsTheMelAtLeastAsWellAsLibrosa() throws {
        let melArray = try Fixture.array("mel_power_m40_nfft512_hop128")
        let mel = Spectrogram(bins: 40, frames: melArray.shape[1], values: melArray.values)
        let librosaMagnitude = try Fixture.array("mel_to_stft_m40_nfft512")
        let librosaPower = Spectrogram(bins: 257, frames: mel.frames, values: librosaMagnitude.values.map { $0 * $0 })

        let inversion = try MelInversion(filterbank: bank)
        let power = try inversion.invert(mel)
        XCTAssertTrue(power.values.allSatisfy { $0 >= 0 && $0.isFinite })
        let melNorm = mel.values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let ours = inversion.residual(power, mel) / melNorm
        let theirs = inversion.residual(librosaPower, mel) / melNorm
        XCTAssertLessThan(ours, max(1.05 * theirs, 1e-3), "relative residual: ours \(ours), librosa \(theirs)")

        // Both against the true |STFT| of the signal the mel came from.
        let truth = try STFT(nFFT: 512, hopLength: 128).magnitude(try Fixture.array("signal_4000").values)
        let ourMagnitude = power.values.map { $0.squareRoot() }
        let ourError = relativeError(ourMagnitude, truth.values)
        let librosaError = relativeError(librosaMagnitude.values, truth.values)
        print("mel_to_stft: relative mel residual ours \(ours), librosa \(theirs); SC vs truth ours \(ourError), librosa \(librosaError)")
        XCTAssertLessThan(ourError, 1.1 * librosaError, "SC vs the true magnitude: ours \(ourError), librosa \(librosaError)")
    }

    func testIterationsImproveOnThePseudoInverse() throws {
        let truth = try STFT(nFFT: 512, hopLength: 128).magnitude(testSignal(count: 8_000))
        let mel = try bank.apply(Spectrogram(bins: 257, frames: truth.frames, values: truth.values.map { $0 * $0 }))
        let start = try MelInversion(filterbank: bank, iterations: 0)
        let solved = try MelInversion(filterbank: bank, iterations: 100)
        XCTAssertLessThan(solved.residual(try solved.invert(mel), mel), 0.5 * start.residual(try start.invert(mel), mel))
    }

    func testSilenceStaysSilent() throws {
        let silence = Spectrogram(bins: 40, frames: 5)
        XCTAssertEqual(try MelInversion(filterbank: bank).invert(silence).values, [Float](repeating: 0, count: 257 * 5))
    }

    func testBadInputIsNamed() throws {
        let inversion = try MelInversion(filterbank: bank)
        XCTAssertThrowsError(try inversion.invert(Spectrogram(bins: 80, frames: 3))) {
            XCTAssertTrue("\($0)".contains("mel bands = 80"), "\($0)")
        }
        var negative = Spectrogram(bins: 40, frames: 3)
        negative[2, 1] = -5
        XCTAssertThrowsError(try inversion.invert(negative)) {
            XCTAssertTrue("\($0)".contains("band 2, frame 1"), "\($0)")
            XCTAssertTrue("\($0)".contains("not dB"), "\($0)")
        }
        XCTAssertThrowsError(try MelInversion(filterbank: bank, iterations: -1))
    }

    private func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() / b.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }
}
