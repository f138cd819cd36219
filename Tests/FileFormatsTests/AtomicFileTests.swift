import FileFormats
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
        XCTAssertTrue(AtomicFile.isLeftover(fileName: String(sawTemporary.split(separator: "/").last!)))
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
