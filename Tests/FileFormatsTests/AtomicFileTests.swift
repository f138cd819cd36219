@testable import FileFormats
import Synchronization
import TestSupport
import XCTest

final class AtomicFileTests: XCTestCase {
    struct Interrupted: Error {}

    func testFailedWriteLeavesOldContentAndNoTemporaryFile() throws {
        let folder = try makeTemporaryFolder(self)
        let path = folder + "/out.bin"
        try AtomicFile.write([1, 2, 3], to: path)
        var sawTemporary = ""
        XCTAssertThrowsError(try AtomicFile.write(to: path) { temporary in
            sawTemporary = temporary
            try AtomicFile.write([9, 9], to: temporary)  // half of a "write" happened...
            throw Interrupted()                           // ...and then it failed
        })
        XCTAssertTrue(sawTemporary.hasPrefix(folder + "/.out.bin.partial-"), sawTemporary)
        XCTAssertEqual(AtomicFile.destination(ofLeftover: String(sawTemporary.split(separator: "/").last!)), "out.bin")
        XCTAssertEqual(AtomicFile.destination(ofLeftover: ".a.partial-x.npy.partial-12-ab"), "a.partial-x.npy")
        for notOne in ["out.bin", ".hidden", "..partial-1-x", ".partial-1-x"] {
            XCTAssertNil(AtomicFile.destination(ofLeftover: notOne), notOne)
        }
        XCTAssertEqual(try readFileBytes(path), [1, 2, 3])
        XCTAssertEqual(listFolder(folder), ["out.bin"])
    }

    func testMissingFolderIsNamed() {
        XCTAssertThrowsError(try AtomicFile.write([1], to: "/nonexistent-folder-xyz/a.bin")) {
            XCTAssertEqual("\($0)", "cannot write '/nonexistent-folder-xyz/a.bin': folder '/nonexistent-folder-xyz' does not exist")
        }
    }

    func testReadFileBytesLimits() throws {
        let folder = try makeTemporaryFolder(self)
        try AtomicFile.write([UInt8](repeating: 7, count: 100), to: folder + "/big")
        XCTAssertThrowsError(try readFileBytes(folder + "/big", limit: 10)) {
            XCTAssertEqual($0 as? FileInputError, .tooLarge(path: folder + "/big", bytes: 100, limit: 10))
        }
        XCTAssertThrowsError(try readFileBytes(folder)) {
            XCTAssertEqual($0 as? FileInputError, .isDirectory(path: folder))
        }
    }
}

final class AtomicFileWriterTests: XCTestCase {
    /// Pieces written at any offsets, in any order, make one file, which appears only on commit.
    func testPiecesAppearTogetherOnCommit() throws {
        let folder = try makeTemporaryFolder(self)
        let path = folder + "/out.bin"
        let file = try AtomicFileWriter(path: path)
        try [UInt8]([4, 5, 6]).withUnsafeBytes { try file.write($0, at: 3) }
        file.startWriteback(upTo: 6)
        try [UInt8]([1, 2, 3]).withUnsafeBytes { try file.write($0, at: 0) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        try file.commit()
        XCTAssertEqual(try readFileBytes(path), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(listFolder(folder), ["out.bin"])
    }

    /// Where files cannot start unnamed, the writer uses a hidden temporary name: the same
    /// results (new file, replaced file, discard, a writer dropped without commit), and no
    /// temporary file left afterwards.
    func testNamedTemporaryFileWhereUnnamedFilesAreNotAvailable() throws {
        let folder = try makeTemporaryFolder(self)
        let path = folder + "/out.bin"
        for content in [[UInt8]([1, 2, 3]), [7]] {  // a new file, then one that replaces it
            let file = try AtomicFileWriter(path: path, unnamed: false)
            try content.withUnsafeBytes { try file.write($0, at: 0) }
            XCTAssertEqual(listFolder(folder).filter { AtomicFile.isLeftover(fileName: $0) }.count, 1)
            try file.commit()
            XCTAssertEqual(try readFileBytes(path), content)
            XCTAssertEqual(listFolder(folder), ["out.bin"])
        }
        let discarded = try AtomicFileWriter(path: path, unnamed: false)
        try [UInt8]([9]).withUnsafeBytes { try discarded.write($0, at: 0) }
        discarded.discard()
        do { _ = try AtomicFileWriter(path: folder + "/dropped.bin", unnamed: false) }
        XCTAssertEqual(listFolder(folder), ["out.bin"])
        XCTAssertEqual(try readFileBytes(path), [7])
        XCTAssertThrowsError(try AtomicFileWriter(path: folder + "/none/x.bin", unnamed: false)) {
            XCTAssertTrue("\($0)".contains("folder '\(folder)/none' does not exist"), "\($0)")
        }
    }

    /// A file that exists is replaced whole (a link cannot replace it; the writer renames).
    func testCommitReplacesAnExistingFile() throws {
        let folder = try makeTemporaryFolder(self)
        let path = folder + "/out.bin"
        try AtomicFile.write([9, 9, 9, 9], to: path)
        let file = try AtomicFileWriter(path: path)
        try [UInt8]([1, 2]).withUnsafeBytes { try file.write($0, at: 0) }
        XCTAssertEqual(try readFileBytes(path), [9, 9, 9, 9], "untouched until the commit")
        try file.commit()
        XCTAssertEqual(try readFileBytes(path), [1, 2])
        XCTAssertEqual(listFolder(folder), ["out.bin"])
    }

    /// A commit that cannot rename (a folder in the way) fails with the path and leaves no
    /// temporary file.
    func testFailedCommitLeavesNoTemporaryFile() throws {
        let folder = try makeTemporaryFolder(self)
        try FileManager.default.createDirectory(atPath: folder + "/taken", withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: folder + "/taken/inside", withIntermediateDirectories: false)
        let file = try AtomicFileWriter(path: folder + "/taken")
        try [UInt8]([1]).withUnsafeBytes { try file.write($0, at: 0) }
        XCTAssertThrowsError(try file.commit()) { XCTAssertTrue("\($0)".contains(folder + "/taken"), "\($0)") }
        XCTAssertEqual(listFolder(folder), ["taken"])
    }
}

final class FileWriterPoolTests: XCTestCase {
    /// Every submitted file is written whole, each completion reports its own outcome, and
    /// a queue far smaller than the work (two files) still lets every file through.
    func testWritesEveryFileAndReportsEachFailure() throws {
        let folder = try makeTemporaryFolder(self)
        let pool = FileWriterPool(threads: 3, byteCapacity: 64, fileCapacity: 2)
        let outcomes = Mutex([String: String]())
        for index in 0..<40 {
            let path = index == 17 ? folder + "/missing/17.bin" : folder + "/\(index).bin"
            pool.submit([UInt8](repeating: UInt8(index), count: 40), to: path) { error in
                outcomes.withLock { $0[path] = error.map { "\($0)" } ?? "ok" }
            }
        }
        pool.finish()
        let results = outcomes.withLock { $0 }
        XCTAssertEqual(results.count, 40)
        XCTAssertEqual(results.filter { $0.value == "ok" }.count, 39)
        XCTAssertTrue(results[folder + "/missing/17.bin"]!.contains("folder '\(folder)/missing' does not exist"),
                      results[folder + "/missing/17.bin"]!)
        for index in 0..<40 where index != 17 {
            XCTAssertEqual(try readFileBytes(folder + "/\(index).bin"), [UInt8](repeating: UInt8(index), count: 40))
        }
        XCTAssertEqual(listFolder(folder).count, 39)
    }
}
