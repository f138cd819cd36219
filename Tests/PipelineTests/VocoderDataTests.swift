import AudioIO
import Foundation
import NeuralVocoder
import Pipeline
import Spectral
import TestSupport
import XCTest

/// The learned vocoder's training clips as `train vocoder` prepares them from a folder.
final class VocoderDataTests: XCTestCase {
    /// Positive-going zero crossings per second.
    func frequency(_ samples: [Float], rate: Int) -> Double {
        let crossings = zip(samples, samples.dropFirst()).filter { $0 < 0 && $1 >= 0 }.count
        return Double(crossings) * Double(rate) / Double(samples.count)
    }

    /// --speed-perturb: each file also played at each speed, its pitch moved with it (a 500 Hz
    /// tone at 0.8x is 400 Hz and lasts 1.25 times as long), named for the speed; the cache of
    /// other speeds is not reused.
    func testSpeedPerturbationMovesPitchAndLength() throws {
        let folder = try makeTemporaryFolder(self)
        let rate = 16_000
        try FileManager.default.createDirectory(atPath: folder + "/data", withIntermediateDirectories: true)
        let tone = (0..<rate).map { Float(0.5 * sin(2 * Double.pi * 500 * Double($0) / Double(rate))) }
        try AudioFile.write(tone, sampleRate: rate, to: folder + "/data/tone.wav")
        var configuration = LearnedVocoderConfiguration(frontEnd: AudioImaging.defaultFrontEnd,
                                                        inputRange: try LogMelNormalization(minDB: -80, maxDB: 0))
        configuration.speeds = [0.8, 1.25]
        let corpus = try VocoderTrainingSession.corpus(in: folder + "/data", cache: folder + "/data.cache",
                                                       configuration: configuration, warn: { XCTFail($0) })
        XCTAssertEqual(corpus.count, 3)
        XCTAssertEqual((0..<3).map(corpus.name), ["tone.wav", "tone.wav@0.8x", "tone.wav@1.25x"])
        for (clip, speed) in [(0, 1.0), (1, 0.8), (2, 1.25)] {
            XCTAssertEqual(Double(corpus.sampleCount(clip)), Double(rate) / speed, accuracy: 64, "clip \(clip)")
            let samples = try corpus.segment(clip, start: 4, frames: 32, hop: 256).samples
            XCTAssertEqual(frequency(samples, rate: rate), 500 * speed, accuracy: 500 * speed * 0.02, "clip \(clip)")
        }
        // As recorded only: another cache (the fingerprint names the speeds).
        configuration.speeds = nil
        let plain = try VocoderTrainingSession.corpus(in: folder + "/data", cache: folder + "/data.cache",
                                                      configuration: configuration, warn: { XCTFail($0) })
        XCTAssertEqual(plain.count, 1)
    }

    func testSpeedsAreParsedAndBadOnesRefusedByFlag() throws {
        XCTAssertEqual(try VocoderRequest.speeds(from: "0.9,1.1"), [0.9, 1.1])
        XCTAssertEqual(try VocoderRequest.speeds(from: "1, 0.9,0.9"), [0.9])
        for bad in ["", "fast", "0.9,3", "0.4", "nan", "0.6,0.7,0.8,0.9,1.1,1.2,1.3,1.4,1.5"] {
            XCTAssertThrowsError(try VocoderRequest.speeds(from: bad)) { error in
                XCTAssertTrue("\(error)".contains("--speed-perturb '\(bad)'") && "\(error)".contains("0.5 to 2"), "\(error)")
            }
        }
    }

    /// --no-adversarial with the discriminators' own options is refused naming the option;
    /// without the choice a new run has them, with --mel-weight 45 unless given.
    func testTheDiscriminatorsOptionsWithoutThemAreRefused() throws {
        var request = VocoderRequest(frontEnd: FrontEndConfiguration())
        XCTAssertThrowsError(try request.setAdversarial(false, learningRate: 1e-4, loss: nil, melWeight: nil)) { error in
            XCTAssertTrue("\(error)".contains("--lr-d 0.0001") && "\(error)".contains("--no-adversarial"), "\(error)")
        }
        XCTAssertThrowsError(try request.setAdversarial(false, learningRate: nil, loss: .leastSquares, melWeight: nil)) { error in
            XCTAssertTrue("\(error)".contains("--adversarial-loss least-squares"), "\(error)")
        }
        try request.setAdversarial(false, learningRate: nil, loss: nil, melWeight: nil)
        XCTAssertNil(request.adversarial)
        XCTAssertEqual(request.weights.mel, 1)
        try request.setAdversarial(nil, learningRate: 1e-4, loss: nil, melWeight: nil)
        XCTAssertEqual(request.adversarial?.learningRate, 1e-4)
        XCTAssertEqual(request.weights.mel, 45)
    }
}
