import AudioIO
import FileFormats
import Foundation
import Pipeline
import Spectral
import TestSupport
import WorkerPool
import XCTest

/// Loading training data and converting folders, through the library.
final class DataAndConversionTests: XCTestCase {
    var input = ""

    /// Two digits' clips (16 files), copied so that nothing touches the bundled data.
    override func setUpWithError() throws {
        input = try makeTemporaryFolder(self) + "/in"
        for digit in ["one", "two"] {
            try FileManager.default.createDirectory(atPath: input + "/" + digit, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/Audio/digits/" + digit) {
                try FileManager.default.copyItem(atPath: repositoryRoot + "/Audio/digits/\(digit)/\(name)", toPath: input + "/\(digit)/\(name)")
            }
        }
    }

    /// A small front end: 32 bands, hop 512, 32 frames.
    var small: FrontEndConfiguration {
        var c = AudioImaging.defaultFrontEnd
        (c.nMels, c.hopLength) = (32, 512)
        return c
    }

    /// The training front end is the user's: images of its bands and frames, labelled by
    /// folder, normalised over the set's top 80 dB, with the contract that made them.
    func testAudioFolderWithAnotherFrontEnd() throws {
        let data = try DataSource.audio(folder: input, frontEnd: small, frames: 32).load(report: { _ in })
        XCTAssertEqual(data.images.shape, [16, 1, 32, 32])
        XCTAssertEqual(data.imaging?.frontEnd, small)
        XCTAssertEqual(data.imaging!.normalization.maxDB - data.imaging!.normalization.minDB, 80)
        XCTAssertEqual(Set(data.folderLabels!), ["one", "two"])
        XCTAssertEqual(data.images.values.max(), 1)
        XCTAssertEqual(data.images.values.min(), -1)
        let (indices, classes) = try DataSource.audio(folder: input, frontEnd: small, frames: 32)
            .classLabels(data.folderLabels, count: 16, for: "a classifier")
        XCTAssertEqual(classes, ["one", "two"])
        XCTAssertEqual(indices.filter { $0 == 1 }.count, 8)
    }

    /// `--loudness peak`: a clip 20 dB quieter gives the image its original gives (but for cells
    /// near the set's floor), where as recorded it is 20 dB darker; the setting travels in the
    /// metadata, and the judge's reading of a clip applies it too.
    func testPeakLoudnessGivesEveryLevelOneImage() throws {
        let folder = try makeTemporaryFolder(self)
        let names = try FileManager.default.contentsOfDirectory(atPath: input + "/one").sorted().prefix(3)
        for (label, gain) in [("loud", Float(1)), ("quiet", Float(0.1))] {
            try FileManager.default.createDirectory(atPath: folder + "/" + label, withIntermediateDirectories: true)
            for name in names {
                let clip = try AudioFile.read(input + "/one/" + name)
                try AudioFile.write(clip.samples.map { $0 * gain }, sampleRate: clip.sampleRate, to: folder + "/\(label)/\(name)",
                                    encoding: .float32)
            }
        }
        func images(_ loudness: Loudness) throws -> (loud: ArraySlice<Float>, quiet: ArraySlice<Float>, imaging: AudioImaging) {
            let data = try DataSource.audio(folder: folder, frontEnd: small, frames: 32, loudness: loudness).load(report: { _ in })
            let half = data.images.values.count / 2  // folders in order: loud, then quiet
            XCTAssertEqual(data.folderLabels?.first, "loud")
            return (data.images.values[..<half], data.images.values[half...], data.imaging!)
        }
        func meanDifference(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
            zip(a, b).reduce(0) { $0 + abs($1.0 - $1.1) } / Float(a.count)
        }
        let (loud, quiet, asRecorded) = try images(.asRecorded)
        XCTAssertGreaterThan(meanDifference(loud, quiet), 0.1)  // 20 dB is a quarter of the [-1, 1] range's 80
        XCTAssertNil(asRecorded.loudness)
        let (loudPeak, quietPeak, imaging) = try images(.peak)
        XCTAssertLessThan(meanDifference(loudPeak, quietPeak), 0.01)
        XCTAssertEqual(imaging.metadata["loudness"], "peak")
        let read = try XCTUnwrap(try AudioImaging(metadata: imaging.metadata, path: "x"))
        XCTAssertEqual(read, imaging)
        // A clip read for a judge goes the same way as in training.
        let samples = try AudioFile.read(folder + "/quiet/" + names[0]).samples
        assertClose(try imaging.image(ofSamples: samples, size: 32, source: "quiet"), Array(quietPeak.prefix(32 * 32)), absolute: 1e-5)
        var unknown = imaging.metadata
        unknown["loudness"] = "loudest"
        XCTAssertThrowsError(try AudioImaging(metadata: unknown, path: "judge.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("judge.safetensors") && "\(error)".contains("loudest"), "\(error)")
        }
    }

    /// A folder converted with the same front end trains exactly as its audio, in either
    /// format; with other settings it is refused with the flags that would make it fit.
    func testConvertedFolderTrainsAsItsAudio() throws {
        let output = try makeTemporaryFolder(self)
        let fromAudio = try DataSource.audio(folder: input, frontEnd: small, frames: 32).load(report: { _ in })
        for format in Conversion.FeatureFormat.allCases {
            let conversion = Conversion(input: input, output: output + "/\(format)",
                                        direction: .features(frontEnd: small, format: format, shardMegabytes: 0.05))
            let summary = try conversion.run()
            XCTAssertEqual(summary.converted, 16)
            let converted = try DataSource.audio(folder: output + "/\(format)", frontEnd: small, frames: 32).load(report: { _ in })
            XCTAssertEqual(converted.images.values, fromAudio.images.values, "\(format)")
            XCTAssertEqual(converted.folderLabels, fromAudio.folderLabels)
        }
        XCTAssertGreaterThan(listFolder(output + "/shards/shards").count, 1)
        XCTAssertThrowsError(try DataSource.audio(folder: output + "/npy", frontEnd: AudioImaging.defaultFrontEnd, frames: 64).load()) {
            XCTAssertTrue("\($0)".contains("npy/frontend.json") && "\($0)".contains("convert with --hop-length 256 --n-mels 64"), "\($0)")
        }
    }

    /// A resumed conversion skips what is done and redoes what its manifest lost; the
    /// records say so.
    func testResumedConversionSkipsWhatIsDone() throws {
        let output = try makeTemporaryFolder(self) + "/out"
        var conversion = Conversion(input: input, output: output, direction: .features(frontEnd: small, format: .npy, shardMegabytes: 1))
        XCTAssertEqual(try conversion.run().converted, 16)
        XCTAssertThrowsError(try conversion.run()) { XCTAssertTrue("\($0)".contains("pass --resume"), "\($0)") }
        try FileManager.default.removeItem(atPath: output + "/one/" + listFolder(output + "/one").first { $0.hasSuffix(".npy") }!)
        conversion.resume = true
        let summary = try conversion.run()
        XCTAssertEqual(summary.converted, 1)
        XCTAssertEqual(summary.skipped, 15)
        let lines = try String(contentsOfFile: conversion.manifestPath, encoding: .utf8).split(separator: "\n")
        let records = lines.compactMap { ManifestRecord(line: $0) }
        XCTAssertEqual(records.count, lines.count)
        XCTAssertEqual(Set(records.map(\.source)).count, 16)
        XCTAssertTrue(records.allSatisfy { $0.frames == 32 || $0.frames == 33 })

        // Back to sound through the vocoder protocol: one WAV per feature file.
        let vocoder = try GriffinLimVocoder(configuration: try Conversion.featureFrontEnd(input: output, fallback: FrontEndConfiguration()),
                                            griffinLimIterations: 2)
        XCTAssertEqual(vocoder.configuration, small)
        let back = try Conversion(input: output, output: output + "-wav", direction: .audio(vocoder: vocoder)).run()
        XCTAssertEqual(back.converted, 16)
        XCTAssertEqual(listFolder(output + "-wav/two").filter { $0.hasSuffix(".wav") }.count, 8)
    }

    /// Shares: K/N parsed and checked, from Slurm or Kubernetes, and every file in exactly one.
    func testSharesSplitTheFilesOnce() throws {
        XCTAssertEqual(Share("2/5"), Share(index: 2, count: 5))
        for bad in ["5/5", "1", "-1/3", "a/b", "1/0"] { XCTAssertNil(Share(bad), bad) }
        XCTAssertEqual(try Share.fromScheduler(["SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "4"],
                                               indexedJobCount: nil), Share(index: 2, count: 4))
        XCTAssertEqual(try Share.fromScheduler(["JOB_COMPLETION_INDEX": "3"], indexedJobCount: 4), Share(index: 3, count: 4))
        XCTAssertThrowsError(try Share.fromScheduler(["JOB_COMPLETION_INDEX": "3"], indexedJobCount: nil)) {
            XCTAssertTrue("\($0)".contains("--shard-count"), "\($0)")
        }
        XCTAssertEqual(try Share.fromScheduler([:], indexedJobCount: nil), .whole)
        let files = (0..<200).map { "clip-\($0).wav" }
        let shares = (0..<3).map { Share(index: $0, count: 3) }
        for file in files { XCTAssertEqual(shares.filter { $0.contains(file) }.count, 1) }
        XCTAssertTrue(shares.allSatisfy { share in files.filter(share.contains).count > 40 })
    }

    /// One thread setting for the whole process: MELFORGE_THREADS when it is a count.
    func testThreadCountComesFromTheEnvironment() {
        XCTAssertEqual(Workers.defaultCount(environment: ["MELFORGE_THREADS": "3"]), 3)
        XCTAssertEqual(Workers.defaultCount(environment: ["MELFORGE_THREADS": "0"]), ProcessInfo.processInfo.activeProcessorCount)
        XCTAssertEqual(Workers.defaultCount(environment: [:]), ProcessInfo.processInfo.activeProcessorCount)
    }
}
