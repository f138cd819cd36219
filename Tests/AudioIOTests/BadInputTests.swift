import AudioIO
import FileFormats
import Foundation
import TestSupport
import XCTest

/// Every kind of bad input gets a typed error naming the file and the reason, never a trap.
final class BadInputTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
    }

    private func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = folder + "/" + name
        try AtomicFile.write(bytes, to: path)
        return path
    }

    /// A canonical 44-byte WAV header (PCM or IEEE float) followed by `data`.
    private func wavBytes(sampleRate: UInt32, channels: UInt16, bits: UInt16, float: Bool = false,
                          data: [UInt8]) -> [UInt8] {
        func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        func le16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        let blockAlign = channels &* (bits / 8)
        return Array("RIFF".utf8) + le32(UInt32(36 + data.count)) + Array("WAVEfmt ".utf8) + le32(16)
            + le16(float ? 3 : 1) + le16(channels) + le32(sampleRate)
            + le32(sampleRate &* UInt32(blockAlign)) + le16(blockAlign) + le16(bits)
            + Array("data".utf8) + le32(UInt32(data.count)) + data
    }

    private func assertAudioError(_ path: String, contains fragments: [String], file: StaticString = #filePath,
                                  line: UInt = #line) {
        XCTAssertThrowsError(try AudioFile.read(path, sampleRate: 16_000), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(path), "message should name the file: \(message)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(message.contains(fragment), "'\(fragment)' missing in: \(message)", file: file, line: line)
            }
        }
    }

    func testMissingPathAndFolder() {
        XCTAssertThrowsError(try AudioFile.read(folder + "/nope.wav")) {
            XCTAssertEqual($0 as? FileInputError, .missing(path: folder + "/nope.wav"))
        }
        XCTAssertThrowsError(try AudioFile.read(folder)) {
            XCTAssertEqual($0 as? FileInputError, .isDirectory(path: folder))
        }
    }

    func testEmptyAndGarbageFiles() throws {
        assertAudioError(try file("empty.wav", []), contains: ["empty (0 bytes)"])
        assertAudioError(try file("text.wav", Array("this is not audio, just text\n".utf8)), contains: ["cannot read audio"])
        let wav = wavBytes(sampleRate: 16_000, channels: 1, bits: 16, data: [0, 1, 2, 3])
        assertAudioError(try file("truncated.wav", Array(wav.prefix(20))), contains: ["cannot read audio"])
    }

    func testZeroFrames() throws {
        let path = try file("zero.wav", wavBytes(sampleRate: 16_000, channels: 1, bits: 16, data: []))
        XCTAssertThrowsError(try AudioFile.read(path)) {
            XCTAssertEqual($0 as? AudioError, .empty(path: path))
        }
    }

    func testTruncatedDataReadsWhatIsThere() throws {
        // The header promises 8 frames, the file holds 3: read the 3, do not invent the rest.
        var bytes = wavBytes(sampleRate: 16_000, channels: 1, bits: 16, data: [0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64])
        bytes.removeLast(10)
        let clip = try AudioFile.read(try file("short.wav", bytes))
        XCTAssertEqual(clip.samples, [0.5, 0.5, 0.5])
    }

    func testAbsurdSampleRateAndChannelCount() throws {
        let slow = try file("rate.wav", wavBytes(sampleRate: 3, channels: 1, bits: 16, data: [0, 0, 0, 0]))
        assertAudioError(slow, contains: ["3 Hz", "1000...768000 Hz"])
        let fast = try file("rate2.wav", wavBytes(sampleRate: 4_000_000_000, channels: 1, bits: 16, data: [0, 0]))
        assertAudioError(fast, contains: [])
        let wide = try file("channels.wav", wavBytes(sampleRate: 16_000, channels: 5_000, bits: 16, data: [UInt8](repeating: 0, count: 10_000)))
        assertAudioError(wide, contains: [])
        let none = try file("nochannels.wav", wavBytes(sampleRate: 16_000, channels: 0, bits: 16, data: [0, 0]))
        assertAudioError(none, contains: [])
    }

    func testNonFiniteSamplesAreRejectedOrReplaced() throws {
        let path = folder + "/nan.wav"
        let samples: [Float] = [0.1, .nan, 0.2, .infinity, -.infinity, 0.3]
        var data: [UInt8] = []
        for sample in samples { withUnsafeBytes(of: sample.bitPattern.littleEndian) { data += $0 } }
        try AtomicFile.write(wavBytes(sampleRate: 16_000, channels: 1, bits: 32, float: true, data: data), to: path)

        XCTAssertThrowsError(try AudioFile.read(path)) {
            XCTAssertEqual($0 as? AudioError, .nonFinite(path: path, count: 3, firstFrame: 1))
            XCTAssertTrue("\($0)".contains("rejected"), "\($0)")
        }
        let clip = try AudioFile.read(path, nonFinite: .zero)
        XCTAssertEqual(clip.samples, [0.1, 0, 0.2, 0, 0, 0.3])
        XCTAssertEqual(clip.replacedSamples, 3)
    }

    func testBadTargetRate() throws {
        let path = folder + "/ok.wav"
        try AudioFile.write([0, 0], sampleRate: 16_000, to: path)
        XCTAssertThrowsError(try AudioFile.read(path, sampleRate: 0)) {
            XCTAssertTrue("\($0)".contains("sample rate = 0 Hz"), "\($0)")
        }
    }

    func testInputsAreNeverModified() throws {
        let path = folder + "/keep.wav"
        try AudioFile.write(testSignal(count: 1_000), sampleRate: 16_000, to: path)
        let before = try readFileBytes(path)
        _ = try AudioFile.read(path, sampleRate: 8_000)
        XCTAssertEqual(try readFileBytes(path), before)
    }
}
