import AudioIO
import FileFormats
import Foundation
import TestSupport
import XCTest

final class AudioFileTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
    }

    // MARK: Round trips

    func testPCM16RoundTripIsExact() throws {
        // Values on the 16-bit grid come back bit for bit.
        let samples = testSignal(count: 4_000).map { ($0 * 32768).rounded() / 32768 }
        let path = folder + "/tone.wav"
        let report = try AudioFile.write(samples, sampleRate: 16_000, to: path)
        XCTAssertEqual(report.clippedSamples, 0)
        let clip = try AudioFile.read(path)
        XCTAssertEqual(clip.samples, samples)
        XCTAssertEqual(clip.sampleRate, 16_000)
        XCTAssertEqual(clip.source.channels, 1)
        XCTAssertEqual(clip.source.encoding, "Signed 16 bit PCM")
    }

    func testEveryContainerAndEncodingReadsBack() throws {
        let samples = testSignal(count: 8_000)
        let cases: [(String, SampleEncoding, Float)] = [
            ("a.wav", .pcm24, 1e-6), ("b.wav", .float32, 0), ("c.flac", .pcm16, 1.0 / 32768),
            ("d.flac", .pcm24, 1e-6), ("e.aiff", .pcm16, 1.0 / 32768), ("f.aif", .float32, 0),
            ("g.ogg", .vorbis, 0.2),  // lossy: the waveform only roughly survives
        ]
        for (name, encoding, tolerance) in cases {
            let path = folder + "/" + name
            try AudioFile.write(samples, sampleRate: 16_000, to: path, encoding: encoding)
            let clip = try AudioFile.read(path)
            XCTAssertEqual(clip.samples.count, samples.count, name)
            if clip.samples.count == samples.count {
                assertClose(clip.samples, samples, absolute: tolerance, name)
            }
        }
    }

    func testChannelsAreAveraged() throws {
        // Interleaved stereo: left 0.5, right -0.25 -> mono 0.125.
        let stereo = (0..<1_000).flatMap { _ in [Float(0.5), Float(-0.25)] }
        let path = folder + "/stereo.wav"
        try AudioFile.write(stereo, channels: 2, sampleRate: 8_000, to: path, encoding: .float32)
        let clip = try AudioFile.read(path)
        XCTAssertEqual(clip.source.channels, 2)
        XCTAssertEqual(clip.samples, [Float](repeating: 0.125, count: 1_000))
    }

    func testResamplingKeepsATonesFrequencyAndLength() throws {
        let path = folder + "/tone44k.wav"
        let tone = (0..<44_100).map { Float(0.5 * sin(2 * Double.pi * 1_000 * Double($0) / 44_100)) }
        try AudioFile.write(tone, sampleRate: 44_100, to: path, encoding: .float32)
        let clip = try AudioFile.read(path, sampleRate: 16_000)
        XCTAssertEqual(clip.sampleRate, 16_000)
        XCTAssertEqual(clip.samples.count, 16_000)
        // Away from the edges the output is the same tone sampled at 16 kHz.
        let expected = (0..<16_000).map { Float(0.5 * sin(2 * Double.pi * 1_000 * Double($0) / 16_000)) }
        assertClose(Array(clip.samples[1_000..<15_000]), Array(expected[1_000..<15_000]), absolute: 1e-3)
    }

    func testStreamingInBlocksEqualsReadingWhole() throws {
        let path = folder + "/long.wav"
        try AudioFile.write(testSignal(count: 100_000, sampleRate: 22_050), sampleRate: 22_050, to: path)
        for rate in [22_050, 16_000] {
            let whole = try AudioFile.read(path, sampleRate: rate).samples
            let reader = try AudioReader(path: path, sampleRate: rate)
            var streamed: [Float] = []
            var blocks = 0
            while case let block = try reader.read(maxFrames: 4_096), !block.isEmpty {
                XCTAssertLessThanOrEqual(block.count, 4_096 * 2)  // bounded by the block, whatever the file
                streamed += block
                blocks += 1
            }
            XCTAssertGreaterThan(blocks, 10)
            assertClose(streamed, whole, absolute: 1e-6, "rate \(rate)")
        }
    }

    // MARK: Writing

    func testClippedSamplesAreCountedAndClamped() throws {
        let path = folder + "/loud.wav"
        let report = try AudioFile.write([0.5, 1.5, -2, 1, -1], sampleRate: 16_000, to: path)
        XCTAssertEqual(report.clippedSamples, 2)
        XCTAssertEqual(try AudioFile.read(path).samples, [0.5, 32767.0 / 32768, -1, 32767.0 / 32768, -1])
    }

    func testWriteRefusesBadInputAndLeavesNothing() throws {
        let path = folder + "/bad.wav"
        XCTAssertThrowsError(try AudioFile.write([0, .nan], sampleRate: 16_000, to: path)) {
            XCTAssertTrue("\($0)".contains("sample 1 is nan"), "\($0)")
        }
        XCTAssertThrowsError(try AudioFile.write([0], sampleRate: 0, to: path)) {
            XCTAssertTrue("\($0)".contains("sample rate = 0 Hz"), "\($0)")
        }
        XCTAssertThrowsError(try AudioFile.write([0], sampleRate: 16_000, to: folder + "/x.mp4")) {
            XCTAssertTrue("\($0)".contains(".wav, .flac, .ogg or .aiff"), "\($0)")
        }
        XCTAssertThrowsError(try AudioFile.write([0], sampleRate: 16_000, to: folder + "/x.flac", encoding: .float32)) {
            XCTAssertTrue("\($0)".contains("float32 in .flac"), "\($0)")
            XCTAssertTrue("\($0)".contains("pcm16, pcm24"), "\($0)")
        }
        XCTAssertThrowsError(try AudioFile.write([0], sampleRate: 16_000, to: folder + "/missing/x.wav")) {
            XCTAssertEqual($0 as? FileOutputError, .missingFolder(path: folder + "/missing/x.wav", folder: folder + "/missing"))
        }
        XCTAssertEqual(listFolder(folder), [])  // no output, no temporary file
    }

    func testOverwriteIsAtomic() throws {
        let path = folder + "/clip.wav"
        try AudioFile.write([0.25], sampleRate: 16_000, to: path)
        // A failed write leaves the previous file whole.
        XCTAssertThrowsError(try AudioFile.write([.infinity], sampleRate: 16_000, to: path))
        XCTAssertEqual(try AudioFile.read(path).samples, [0.25])
        try AudioFile.write([0.5, 0.5], sampleRate: 16_000, to: path)
        XCTAssertEqual(try AudioFile.read(path).samples, [0.5, 0.5])
        XCTAssertEqual(listFolder(folder), ["clip.wav"])
    }
}
