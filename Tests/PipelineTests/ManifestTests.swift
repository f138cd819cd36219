import FileFormats
import Foundation
import Pipeline
import TestSupport
import XCTest

/// Manifest lines: what convert writes, read back, and joined across machines.
final class ManifestTests: XCTestCase {
    /// A record's line is compact sorted JSON (the bytes earlier versions wrote), and reads
    /// back as the same record; a line cut short by a kill reads as nothing.
    func testRecordLinesAreSortedCompactJSONAndReadBack() {
        var record = ManifestRecord(source: "in/seven/a.wav", output: "out/seven/a.npy", file: "seven/a.npy", label: "seven")
        record.frames = 63
        record.duration = 1
        record.sampleRate = 16_000
        XCTAssertEqual(record.line, #"{"duration":1,"file":"seven/a.npy","frames":63,"label":"seven","output":"out/seven/a.npy","sample_rate":16000,"source":"in/seven/a.wav","status":"converted"}"#)
        XCTAssertEqual(ManifestRecord(line: record.line), record)
        record.duration = 0.5
        record.status = .failed
        record.error = "'x' is \"bad\""
        XCTAssertEqual(ManifestRecord(line: record.line), record)
        XCTAssertNil(ManifestRecord(line: String(record.line.dropLast(5))))
    }

    /// Merging takes every machine's lines, a later manifest's line winning for a source.
    func testMergeJoinsTheSharesManifestsSortedBySource() throws {
        let folder = try makeTemporaryFolder(self)
        let a = ManifestRecord(source: "b.wav", output: nil, file: "b.npy", label: "")
        var b = ManifestRecord(source: "a.wav", output: nil, file: "a.npy", label: "")
        try AtomicFile.write(Array((a.line + "\n" + b.line + "\n").utf8), to: folder + "/manifest-0-of-2.jsonl")
        b.status = .failed
        try AtomicFile.write(Array((b.line + "\n{\"source\": \"cut").utf8), to: folder + "/manifest-1-of-2.jsonl")
        let (records, manifests) = try Manifest.merge(folder)
        XCTAssertEqual(records, 2)
        XCTAssertEqual(manifests, 2)
        XCTAssertEqual(try String(contentsOfFile: folder + "/manifest.jsonl", encoding: .utf8), b.line + "\n" + a.line + "\n")
        XCTAssertThrowsError(try Manifest.merge(try makeTemporaryFolder(self) + "/none")) {
            XCTAssertTrue("\($0)".contains("manifest-K-of-N.jsonl"), "\($0)")
        }
    }
}
