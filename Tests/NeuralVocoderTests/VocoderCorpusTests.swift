import FileFormats
import Foundation
import Layers
@testable import NeuralVocoder
import Spectral
import Tensors
import TestSupport
import XCTest

/// The vocoder's disk cache gives what the clips in memory give, bit for bit, is reopened only
/// for the data and settings it was made from, is never read past its end, and trains exactly
/// as the clips in memory do.
final class VocoderCorpusTests: XCTestCase {
    func testTheCacheReadsWhatMemoryHolds() throws {
        let folder = try makeTemporaryFolder(self)
        let configuration = try NeuralVocoderTests.configuration()
        // Clips of several lengths, one shorter than a segment (padded by VocoderClip).
        let inversion = try FeatureInversion(configuration: configuration.frontEnd)
        let clips = try [900, 400, 60, 1_300].enumerated().map { index, count in
            try VocoderClip(name: "clip\(index).wav", samples: NeuralVocoderTests.clip(index, count: count), inversion: inversion,
                            segmentFrames: configuration.segmentFrames)
        }
        let memory = VocoderClips(clips)
        let path = folder + "/data.cache"
        var reported: [Int] = []
        // A chunk of 3 clips: the last chunk is partial; the third preparation is skipped (nil).
        let cache = try VocoderDataCache.build(path, fingerprint: "A", count: 5, chunk: 3, prepare: { index in
            index == 2 ? nil : clips[index < 2 ? index : index - 1]
        }, progress: { reported.append($0) })
        XCTAssertEqual(reported, [3, 5])
        let kept = [clips[0], clips[1], clips[2], clips[3]]
        XCTAssertEqual(cache.count, 4)
        XCTAssertEqual((0..<4).map(cache.name), kept.map(\.name))
        let hop = configuration.frontEnd.hopLength
        let t = configuration.segmentFrames
        for clip in 0..<4 {
            XCTAssertEqual(cache.frames(clip), memory.frames(clip))
            XCTAssertEqual(cache.sampleCount(clip), memory.sampleCount(clip))
            XCTAssertEqual(cache.peakDecibels(clip), memory.peakDecibels(clip))
            XCTAssertEqual(try cache.features(clip), try memory.features(clip))
            for start in Set([0, (memory.frames(clip) - t) / 2, memory.frames(clip) - t]) {
                let (a, b) = (try cache.segment(clip, start: start, frames: t, hop: hop), try memory.segment(clip, start: start, frames: t, hop: hop))
                XCTAssertEqual(a.features, b.features, "clip \(clip) at \(start)")
                XCTAssertEqual(a.logPrior, b.logPrior)
                XCTAssertEqual(a.phasePrior, b.phasePrior)
                XCTAssertEqual(a.trueLogMagnitude, b.trueLogMagnitude)
                XCTAssertEqual(a.truePhase, b.truePhase)
                XCTAssertEqual(a.samples, b.samples)
            }
        }
        // Reopened for the same fingerprint only; a file cut short is not reopened.
        XCTAssertEqual(VocoderDataCache.open(path, fingerprint: "A")?.count, 4)
        XCTAssertNil(VocoderDataCache.open(path, fingerprint: "B"))
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(size - 4))
        try handle.close()
        XCTAssertNil(VocoderDataCache.open(path, fingerprint: "A"))
        // A cache truncated under an open reader says so, by name, instead of reading zeros.
        XCTAssertThrowsError(try cache.segment(3, start: cache.frames(3) - t, frames: t, hop: hop)) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
        // An index that cannot be read is not reopened either; building again replaces both files.
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: path + ".json"))
        XCTAssertNil(VocoderDataCache.open(path, fingerprint: "A"))
        _ = try VocoderDataCache.build(path, fingerprint: "A", count: 2, prepare: { clips[$0] }, progress: { _ in })
        let rebuilt = try XCTUnwrap(VocoderDataCache.open(path, fingerprint: "A"))
        XCTAssertEqual(rebuilt.count, 2)
        XCTAssertEqual(try rebuilt.features(1), try memory.features(1))
    }

    func testTrainingFromTheCacheIsTrainingFromMemory() throws {
        let folder = try makeTemporaryFolder(self)
        let configuration = try NeuralVocoderTests.configuration()
        let clips = try NeuralVocoderTests.clips(4, configuration: configuration)
        let cache = try VocoderDataCache.build(folder + "/data.cache", fingerprint: "x", count: clips.count,
                                               prepare: { clips[$0] }, progress: { _ in })
        let (fromMemory, fromDisk) = (try VocoderTrainer(configuration: configuration, clips: clips),
                                      try VocoderTrainer(configuration: configuration, corpus: cache))
        for _ in 0..<3 { XCTAssertEqual(try fromMemory.trainStep(), try fromDisk.trainStep()) }
        for (a, b) in zip(fromMemory.network.parameters, fromDisk.network.parameters) { XCTAssertEqual(a.value, b.value) }
    }
}
