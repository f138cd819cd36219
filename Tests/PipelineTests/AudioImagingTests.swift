import AudioIO
import FileFormats
import Foundation
import Pipeline
import Spectral
import Tensors
import TestSupport
import XCTest

/// The audio <-> model-image contract: what travels in checkpoints, how clips become images.
final class AudioImagingTests: XCTestCase {
    let normalization = try! LogMelNormalization(minDB: -90, maxDB: -10)

    /// The metadata it writes reads back as the same contract; a file without it is a model
    /// of pictures; unreadable metadata is an error naming the file.
    func testMetadataRoundTrip() throws {
        var frontEnd = AudioImaging.defaultFrontEnd
        frontEnd.hopLength = 128
        let imaging = AudioImaging(frontEnd: frontEnd, normalization: normalization)
        XCTAssertEqual(try AudioImaging(metadata: imaging.metadata.merging(["step": "3"]) { $1 }, path: "c"), imaging)
        XCTAssertNil(try AudioImaging(metadata: ["step": "3"], path: "c"))
        var broken = imaging.metadata
        broken[broken.keys.first { $0 != "normalization" }!] = "{"
        XCTAssertThrowsError(try AudioImaging(metadata: broken, path: "run/checkpoint.safetensors")) {
            XCTAssertTrue("\($0)".contains("run/checkpoint.safetensors") && "\($0)".contains("front-end metadata"), "\($0)")
        }
    }

    /// A clip of F frames is (F - 1) hops when frames are centred (the default: 63 x 256 =
    /// 16,128 samples for 64 frames), one FFT longer when not; and gives exactly F frames.
    func testClipLengthGivesExactlyTheFrames() throws {
        XCTAssertEqual(AudioImaging.clipSamples(frames: 64, frontEnd: AudioImaging.defaultFrontEnd), 16_128)
        for center in [true, false] {
            var c = FrontEndConfiguration()
            (c.nMels, c.hopLength, c.nFFT, c.center) = (16, 64, 256, center)
            let samples = AudioImaging.fitted(testSignal(count: 5_000), frames: 16, frontEnd: c)
            XCTAssertEqual(samples.count, AudioImaging.clipSamples(frames: 16, frontEnd: c))
            XCTAssertEqual(try MelFrontEnd(c).features(samples).frames, 16, "center \(center)")
            let image = try AudioImaging(frontEnd: c, normalization: normalization).image(ofSamples: testSignal(count: 100), size: 16, source: "x")
            XCTAssertEqual(image.count, 16 * 16)
            XCTAssertTrue(image.allSatisfy { (-1...1).contains($0) })
        }
    }

    /// Images move between two normalisations through dB; beyond the target's range they clamp.
    func testRenormalizeGoesThroughDecibels() throws {
        let wide = AudioImaging(frontEnd: AudioImaging.defaultFrontEnd, normalization: normalization)
        let narrow = try LogMelNormalization(minDB: -50, maxDB: -10)
        let images = Tensor(shape: [1, 1, 1, 3], values: [-1, 0, 1])  // -90, -50, -10 dB
        let moved = AudioImaging(frontEnd: AudioImaging.defaultFrontEnd, normalization: narrow).renormalize(images, from: normalization)
        assertClose(moved.values, [-1, -1, 1], absolute: 1e-5)
        XCTAssertEqual(wide.renormalize(images, from: normalization).values, images.values)
    }

    /// A judge of sound refuses pictures and other front ends, naming both sides, the
    /// settings that differ and nothing when they agree.
    func testAgreementNamesWhatDiffers() throws {
        let mine = AudioImaging(frontEnd: AudioImaging.defaultFrontEnd, normalization: normalization)
        var other = AudioImaging.defaultFrontEnd
        other.nMels = 80
        func message(_ judge: AudioImaging?, _ subject: FrontEndConfiguration?) -> String? {
            do {
                try AudioImaging.requireAgreement(classifier: judge, subject: subject, judge: "classifier 'c'", subject: "generator 'g'",
                                                  verb: "makes", shortName: "generator")
                return nil
            } catch { return "\(error)" }
        }
        XCTAssertNil(message(mine, AudioImaging.defaultFrontEnd))
        XCTAssertNil(message(nil, nil))
        XCTAssertEqual(message(nil, other), "classifier 'c' was trained on images; generator 'g' makes audio")
        XCTAssertEqual(message(mine, nil), "classifier 'c' was trained on audio; generator 'g' makes images")
        XCTAssertTrue(message(mine, other)!.contains("(generator vs classifier: nMels 80 vs 64)"), message(mine, other)!)
        XCTAssertEqual(AudioImaging.flags(for: AudioImaging.defaultFrontEnd, differingFrom: other), "--n-mels 64")
        var noCenter = other
        noCenter.center = false
        XCTAssertEqual(AudioImaging.flags(for: AudioImaging.defaultFrontEnd, differingFrom: noCenter), "--center --n-mels 64")
    }
}

/// `melforge spectrogram`'s work through the library, and a walk between two latents.
final class FeatureExtractionTests: XCTestCase {
    /// The array, its JSON (front end, normalisation, source) and the picture; the JSON's
    /// front end reads the array back through `FeatureFile` and the vocoder.
    func testWritesFeaturesTheirDescriptionAndAPicture() throws {
        let folder = try makeTemporaryFolder(self)
        let clip = repositoryRoot + "/Audio/digits/seven/en-us+f2_s165_p50.wav"
        var extraction = FeatureExtraction(frontEnd: AudioImaging.defaultFrontEnd)
        extraction.normalize = true
        let result = try extraction.run(clip, output: folder + "/a/seven.npy", picture: folder + "/b/seven.png")
        XCTAssertEqual([result.bins, result.frames], [64, 63])
        let file = try FeatureFile(folder + "/a/seven.npy", fallback: FrontEndConfiguration())
        XCTAssertEqual(file.configuration, AudioImaging.defaultFrontEnd)
        XCTAssertEqual(file.sidecar?.samples, 16_000)
        XCTAssertEqual(file.sidecar?.source?.path, clip)
        XCTAssertEqual(file.features.values.max(), 1)
        let vocoded = try file.vocoded(by: try GriffinLimVocoder(configuration: file.configuration, griffinLimIterations: 4))
        XCTAssertEqual(vocoded.samples.count, 16_000)
        XCTAssertGreaterThan(try PNG.read(folder + "/b/seven.png", as: .rgb).height, 320 + 40, "the heat map with axes and a title")
        XCTAssertThrowsError(try file.linearMagnitude(bins: 513)) { XCTAssertTrue("\($0)".contains("64 rows"), "\($0)") }
    }

    func testInterpolationIncludesBothEnds() {
        let path = interpolated(from: Tensor(shape: [1, 2], values: [0, 4]), to: Tensor(shape: [1, 2], values: [2, 0]), steps: 3)
        XCTAssertEqual(path.shape, [3, 2])
        XCTAssertEqual(path.values, [0, 4, 1, 2, 2, 0])
    }
}
