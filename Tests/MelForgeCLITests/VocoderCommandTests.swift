import AudioIO
import FileFormats
import Foundation
import TestSupport
import XCTest

/// `melforge invert` and `melforge resynth` end to end on a bundled clip.
final class VocoderCommandTests: XCTestCase {
    let clip = repositoryRoot + "/Audio/digits/seven/en-us+f2_s165_p50.wav"
    var folder = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
    }

    /// The SC a command printed.
    private func convergence(_ result: CommandResult) -> Float? {
        guard let range = result.standardOutput.range(of: "SC ") else { return nil }
        return Float(result.standardOutput[range.upperBound...].prefix { $0 == "." || $0.isNumber })
    }

    func testSpectrogramThenInvertGivesBackTheClip() throws {
        for extra in [[], ["--normalize", "--n-mels", "64", "--hop-length", "200"]] {
            let features = folder + "/seven.npy"
            XCTAssertEqual(try runMelforge(["spectrogram", clip, "-o", features] + extra).status, 0)
            let result = try runMelforge(["invert", features, "-o", folder + "/seven.wav", "--seed", "3"])
            XCTAssertEqual(result.status, 0, result.standardError)
            let sc = try XCTUnwrap(convergence(result), result.standardOutput)
            XCTAssertLessThan(sc, 0.3, "\(extra)")
            let audio = try AudioFile.read(folder + "/seven.wav")
            XCTAssertEqual(audio.sampleRate, 16_000)
            XCTAssertEqual(audio.source.encoding, "Signed 16 bit PCM")
            XCTAssertEqual(audio.samples.count, 16_000, "the sidecar's length comes back")
            XCTAssertTrue(result.standardOutput.contains("front end from"), result.standardOutput)
        }
    }

    func testResynthViaLinearBeatsViaMelAndBothAreGood() throws {
        let linear = try runMelforge(["resynth", clip, "-o", folder + "/lin.wav", "--via", "linear"])
        let mel = try runMelforge(["resynth", clip, "-o", folder + "/mel.wav"])
        XCTAssertEqual(linear.status, 0, linear.standardError)
        XCTAssertEqual(mel.status, 0, mel.standardError)
        let (linearSC, melSC) = (try XCTUnwrap(convergence(linear)), try XCTUnwrap(convergence(mel)))
        XCTAssertLessThan(linearSC, 0.1)
        XCTAssertLessThan(melSC, 0.35)
        XCTAssertLessThan(linearSC, melSC)
        XCTAssertEqual(try AudioFile.read(folder + "/mel.wav").samples.count, 16_000)
    }

    /// --vocoder pghi (no iterations) and --init pghi (Griffin-Lim from it, the default): with
    /// the clip's exact magnitude, PGHI alone is already within reach of 32 iterations from a
    /// random phase, and starting them from it does better; the vocoder is named.
    func testPGHIVocoderAndStart() throws {
        func run(_ extra: [String]) throws -> (Float, String) {
            let result = try runMelforge(["resynth", clip, "-o", folder + "/x.wav", "--via", "linear"] + extra)
            XCTAssertEqual(result.status, 0, result.standardError)
            return (try XCTUnwrap(convergence(result), result.standardOutput), result.standardOutput)
        }
        let (alone, aloneText) = try run(["--vocoder", "pghi"])
        let (random, randomText) = try run(["--init", "random"])
        let (started, startedText) = try run([])
        XCTAssertTrue(aloneText.contains("pghi (phase gradient heap integration)"), aloneText)
        XCTAssertTrue(randomText.contains("griffin-lim (32 iterations from random phase)"), randomText)
        XCTAssertTrue(startedText.contains("griffin-lim (32 iterations from the pghi phase)"), startedText)
        XCTAssertLessThan(alone, 2 * random)
        XCTAssertLessThan(started, random)
        for (arguments, fragment) in [(["--vocoder", "pghi", "--n-iter", "5"], "--vocoder pghi runs no Griffin-Lim iterations"),
                                      (["--zero-phase", "--init", "random"], "--zero-phase and --init random disagree"),
                                      (["--vocoder", "wavenet"], "wavenet")] {
            let refused = try runMelforge(["resynth", clip, "-o", folder + "/y.wav"] + arguments)
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.standardError.contains(fragment), refused.standardError)
        }
    }

    func testLinearMagnitudeInput() throws {
        // |STFT| of a 1 kHz tone, [513, frames], written as a float32 .npy.
        let frames = 20
        var values = [Float](repeating: 0, count: 513 * frames)
        for t in 0..<frames { values[64 * frames + t] = 256 }
        try NPY.write(NumPyArray(shape: [513, frames], values: values), to: folder + "/tone.npy")
        let result = try runMelforge(["invert", folder + "/tone.npy", "--linear", "-o", folder + "/tone.wav"])
        XCTAssertEqual(result.status, 0, result.standardError)
        XCTAssertTrue(try AudioFile.read(folder + "/tone.wav").samples.allSatisfy(\.isFinite))
    }

    func testBadInputFailsClearlyAndWritesNothing() throws {
        let features = folder + "/in/seven.npy"
        XCTAssertEqual(try runMelforge(["spectrogram", clip, "-o", features]).status, 0)
        var withNaN = try NPY.read(features)
        withNaN.values[5] = .nan
        try NPY.write(NumPyArray(shape: withNaN.shape, values: withNaN.values), to: folder + "/in/nan.npy")
        try NPY.write(NumPyArray(shape: [3, 80, 2], values: [Float](repeating: 0, count: 480)), to: folder + "/in/3d.npy")
        try NPY.write(NumPyArray(shape: [64, 10], values: [Float](repeating: 0, count: 640)), to: folder + "/in/64.npy")
        try NPY.write(NumPyArray(shape: [513, 2], values: [Float](repeating: -1, count: 1_026)), to: folder + "/in/negative.npy")
        var float64 = NPY.encode(NumPyArray(shape: [80, 2], values: [Float](repeating: 0, count: 160)))
        if let at = (0..<100).first(where: { Array(float64[$0..<$0 + 5]) == Array("'<f4'".utf8) }) {
            float64.replaceSubrange(at..<at + 5, with: Array("'<f8'".utf8))
            float64 += [UInt8](repeating: 0, count: 160 * 4)
        }
        try AtomicFile.write(float64, to: folder + "/in/float64.npy")

        let out = folder + "/out/x.wav"
        let cases: [([String], String)] = [
            (["invert", folder + "/in/missing.npy", "-o", out], "missing.npy' does not exist"),
            (["invert", folder + "/in/nan.npy", "-o", out], "nan at band 0, frame 5"),
            (["invert", folder + "/in/3d.npy", "-o", out], "expected 2-D"),
            (["invert", folder + "/in/64.npy", "-o", out], "has 64 mel bands, but --n-mels is 80"),
            (["invert", folder + "/in/negative.npy", "--linear", "-o", out], "-1.0 at bin 0, frame 0"),
            (["invert", folder + "/in/float64.npy", "-o", out], "float64; expected float32"),
            (["invert", features, "-o", folder + "/out/x.mp3"], "must end in .wav"),
            (["invert", features, "-o", out, "--momentum=-1"], "--momentum -1.0"),
            (["resynth", folder + "/in/nan.npy", "-o", out], "nan.npy"),
        ]
        for (arguments, fragment) in cases {
            let result = try runMelforge(arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.standardError.contains(fragment), "'\(fragment)' not in: \(result.standardError)")
        }
        XCTAssertEqual(listFolder(folder + "/out"), [])
    }
}
