import FileFormats
import Foundation
import Spectral
import TestSupport
import XCTest

/// Phase Gradient Heap Integration: phase from the magnitude alone, on signals whose phase
/// is known and against an outside implementation.
final class PhaseGradientTests: XCTestCase {
    let sampleRate = 16_000.0
    let stft = try! STFT(nFFT: 1_024, hopLength: 256)

    /// A linear chirp from 200 to 1,600 Hz over 2 s, and a sum of two steady tones.
    var chirp: [Float] {
        (0..<32_000).map { i in
            let t = Double(i) / sampleRate
            return Float(0.5 * sin(2 * Double.pi * (200 * t + 350 * t * t)))
        }
    }
    var tones: [Float] {
        (0..<32_000).map { i in
            let t = Double(i) / sampleRate
            return Float(0.3 * sin(2 * Double.pi * 440 * t) + 0.2 * sin(2 * Double.pi * 1_234 * t + 1))
        }
    }

    func convergence(_ signal: [Float], _ initial: GriffinLim.InitialPhase, iterations: Int) throws -> Double {
        let magnitude = try stft.magnitude(signal)
        let result = try GriffinLim(stft: stft, iterations: iterations, initialPhase: initial).reconstruct(magnitude, length: signal.count)
        return try spectralConvergence(of: result.samples, against: magnitude, stft: stft)
    }

    /// How alike two phase fields are up to one constant, over the coefficients at least
    /// `fraction` of the largest: |sum of m e^{i (a - b)}| / sum of m, 1 for equal fields.
    func coherence(_ a: [Float], _ b: [Float], magnitude: Spectrogram, above fraction: Float) -> Double {
        let floor = fraction * magnitude.values.max()!
        var (re, im, total) = (0.0, 0.0, 0.0)
        for i in a.indices where magnitude.values[i] >= floor {
            let (m, d) = (Double(magnitude.values[i]), Double(a[i] - b[i]))
            (re, im, total) = (re + m * cos(d), im + m * sin(d), total + m)
        }
        return (re * re + im * im).squareRoot() / total
    }

    /// The phase PGHI finds in a chirp's and two tones' magnitudes turns from frame to frame
    /// and from bin to bin as the true STFT phase does, over every pair of coefficients within
    /// 20 dB of the largest: the main lobes (Hann's side lobes, from -31 dB, are where a
    /// Gaussian is a poor model of it). The phase itself is free up to one constant per island
    /// of large coefficients (two tones are two islands); the chirp is one island, so there the
    /// phase itself is the true one up to one constant.
    func testFindsTheTruePhase() throws {
        for (name, signal) in [("chirp", chirp), ("tones", tones)] {
            let spectrum = try stft.transform(signal)
            let magnitude = try stft.magnitude(signal)
            let truth = zip(spectrum.real, spectrum.imaginary).map { atan2($1, $0) }
            let found = PhaseGradient(stft: stft).phase(magnitude)
            let frames = magnitude.frames
            for (direction, step) in [("frame to frame", 1), ("bin to bin", frames)] {
                let floor = 0.1 * magnitude.values.max()!
                var (re, im, total) = (0.0, 0.0, 0.0)
                for i in 0..<(found.count - step) where (step == 1 ? i % frames != frames - 1 : true)
                    && min(magnitude.values[i], magnitude.values[i + step]) >= floor {
                    let d = Double((found[i + step] - found[i]) - (truth[i + step] - truth[i]))
                    let m = Double(magnitude.values[i])
                    (re, im, total) = (re + m * cos(d), im + m * sin(d), total + m)
                }
                let alike = (re * re + im * im).squareRoot() / total
                print("PGHI vs the true phase, \(name), \(direction): coherence \(alike)")
                XCTAssertGreaterThan(alike, 0.97, "\(name), \(direction)")
            }
            if name == "chirp" {
                XCTAssertGreaterThan(coherence(found, truth, magnitude: magnitude, above: 0.1), 0.97)
            }
        }
    }

    /// Alone, PGHI rebuilds both signals about as well as 32 iterations of Griffin-Lim from a
    /// random phase, and 8 iterations from it do better than those 32.
    func testStartsGriffinLimFarAhead() throws {
        for (name, signal) in [("chirp", chirp), ("tones", tones)] {
            let alone = try convergence(signal, .pghi(seed: 0), iterations: 0)
            let random32 = try convergence(signal, .random(seed: 0), iterations: 32)
            let pghi8 = try convergence(signal, .pghi(seed: 0), iterations: 8)
            print(String(format: "%@: SC PGHI alone %.4f, random + 32 %.4f, PGHI + 8 %.4f", name, alone, random32, pghi8))
            XCTAssertLessThan(alone, 0.05, name)
            XCTAssertLessThan(alone, 2 * random32, name)
            XCTAssertLessThan(pghi8, random32 / 2, name)
        }
    }

    /// On the same magnitude as pghipy (an outside implementation; Scripts/make-pghi-fixture.py),
    /// the same phase up to one constant over the coefficients within 20 dB of the largest,
    /// where both integrate the same gradients in nearly the same order.
    func testAgreesWithAnOutsideImplementation() throws {
        let magnitudeArray = try Fixture.array("pghi_chirp_magnitude")
        let theirs = try Fixture.array("pghi_chirp_phase")
        let magnitude = Spectrogram(bins: magnitudeArray.shape[0], frames: magnitudeArray.shape[1], values: magnitudeArray.values)
        XCTAssertEqual(magnitude.bins, stft.bins)
        // The fixture's magnitude is this STFT's of the same chirp.
        assertClose(magnitude.values, try stft.magnitude(chirp).values, absolute: 2e-3)
        let ours = PhaseGradient(stft: stft).phase(magnitude)
        let alike = coherence(ours, theirs.values, magnitude: magnitude, above: 0.1)
        print("PGHI vs pghipy: coherence \(alike)")
        XCTAssertGreaterThan(alike, 0.99)
    }

    /// The fitted Gaussians: the published constants lie within 2.5% of 4 pi times each
    /// window's second moment (sum t^2 w^2 / sum w^2, t from the window's centre).
    func testGaussianWidthsFitTheWindows() {
        let length = 4_096
        for window in [Window.hann, .hamming, .blackman, .rectangular] {
            let w = window.values(length: length).map(Double.init)
            let moment = zip(w.indices, w).reduce(0.0) { $0 + pow(Double($1.0) - Double(length) / 2, 2) * $1.1 * $1.1 }
                / w.reduce(0) { $0 + $1 * $1 }
            let gamma = PhaseGradient.gamma(window: window, length: length)
            XCTAssertEqual(gamma / (4 * Double.pi * moment), 1, accuracy: 0.025, "\(window)")
        }
    }

    /// Silence and a single coefficient give finite phases; a silent magnitude rebuilds silence.
    func testSilenceAndTinyInputs() throws {
        let silent = PhaseGradient(stft: stft).phase(Spectrogram(bins: 513, frames: 3))
        XCTAssertTrue(silent.allSatisfy(\.isFinite))
        var one = Spectrogram(bins: 513, frames: 1)
        one[40, 0] = 1
        XCTAssertTrue(PhaseGradient(stft: stft).phase(one).allSatisfy(\.isFinite))
        let result = try GriffinLim(stft: stft, iterations: 0, initialPhase: .pghi(seed: 1)).reconstruct(Spectrogram(bins: 513, frames: 5))
        XCTAssertTrue(result.samples.allSatisfy { $0 == 0 })
    }
}
