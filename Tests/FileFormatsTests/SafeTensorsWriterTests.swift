import FileFormats
import Foundation
import TestSupport
import XCTest

final class SafeTensorsWriterTests: XCTestCase {
    /// Tensors appended one by one (not in name order, one of them past the 8 MB at which the
    /// writer hands data to the disk) read back as the same file written in one go would;
    /// nothing is under the final name before the commit.
    func testStreamedFileReadsLikeOneWrittenWhole() throws {
        let folder = try makeTemporaryFolder(self)
        let path = folder + "/shard.safetensors"
        let tensors = [NamedTensor(name: "seven/b", shape: [2, 3], values: (0..<6).map { Float($0) / 4 }),
                       NamedTensor(name: "one/a", shape: [3_000_000], values: (0..<3_000_000).map { Float($0 % 1_000) }),
                       NamedTensor(name: "zero/c", shape: [], values: [-1.5])]
        let writer = try SafeTensorsWriter(path: path, reservedHeaderBytes: 1_000, metadata: ["format": "test"])
        for tensor in tensors {
            XCTAssertTrue(try writer.append(name: tensor.name, shape: tensor.shape, values: tensor.values))
        }
        XCTAssertEqual(writer.count, 3)
        XCTAssertEqual(writer.dataBytes, 4 * 3_000_007)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        try writer.commit()

        XCTAssertEqual(try SafeTensors.read(path), SafeTensors(tensors: tensors.sorted { $0.name < $1.name },
                                                               metadata: ["format": "test"]))
        XCTAssertEqual(listFolder(folder), ["shard.safetensors"])
        // The header is the reserved 1,000 bytes (rounded up to 1,000 + 0 to a multiple of 8):
        // JSON, then spaces only; the data follows, aligned.
        let bytes = try readFileBytes(path)
        let length = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        XCTAssertEqual(length, 1_000)
        let header = bytes[8..<8 + length]
        let close = try XCTUnwrap(header.lastIndex(of: UInt8(ascii: "}")))
        XCTAssertTrue(header[(close + 1)...].allSatisfy { $0 == 0x20 })
        XCTAssertEqual(bytes.count, 8 + 1_000 + 4 * 3_000_007)
    }

    /// A tensor whose header entry would overflow the reserved space is refused and not
    /// written; the file holds the tensors that fit, and its offsets still tile the data.
    func testFullHeaderRefusesTheNextTensor() throws {
        let folder = try makeTemporaryFolder(self)
        let path = folder + "/small.safetensors"
        let writer = try SafeTensorsWriter(path: path, reservedHeaderBytes: 200)
        var accepted: [NamedTensor] = []
        for index in 0..<10 {
            let tensor = NamedTensor(name: "clip\(index)", shape: [2], values: [Float(index), 1])
            guard try writer.append(name: tensor.name, shape: tensor.shape, values: tensor.values) else { break }
            accepted.append(tensor)
        }
        XCTAssertTrue((2..<10).contains(accepted.count), "\(accepted.count) entries of about 60 bytes in 200")
        XCTAssertEqual(writer.dataBytes, 8 * accepted.count, "the refused tensor wrote nothing")
        let entry = SafeTensorsWriter.entryLength(name: "clip9", shape: [2], dataEnd: 72)
        XCTAssertGreaterThan(2 + entry * (accepted.count + 1), 200, "refused only when it did not fit")
        try writer.commit()
        XCTAssertEqual(try SafeTensors.read(path).tensors, accepted)
    }

    func testRefusedNamesAndDiscardLeaveNothing() throws {
        let folder = try makeTemporaryFolder(self)
        let writer = try SafeTensorsWriter(path: folder + "/x.safetensors", reservedHeaderBytes: 4096)
        XCTAssertTrue(try writer.append(name: "w", shape: [1], values: [1]))
        XCTAssertThrowsError(try writer.append(name: "w", shape: [1], values: [2])) {
            XCTAssertTrue("\($0)".contains("appears twice"), "\($0)")
        }
        XCTAssertThrowsError(try writer.append(name: "__metadata__", shape: [1], values: [2]))
        XCTAssertEqual(writer.count, 1)
        writer.discard()
        XCTAssertEqual(listFolder(folder), [])

        // Dropped without a commit (a run that stopped): the temporary file goes too.
        do {
            let abandoned = try SafeTensorsWriter(path: folder + "/y.safetensors", reservedHeaderBytes: 4096)
            XCTAssertTrue(try abandoned.append(name: "v", shape: [1], values: [1]))
            XCTAssertFalse(listFolder(folder).contains("y.safetensors"))
        }
        XCTAssertEqual(listFolder(folder), [])
        XCTAssertThrowsError(try SafeTensorsWriter(path: folder + "/z.safetensors", reservedHeaderBytes: 16,
                                                   metadata: ["a long key": "and a long value"]))
    }
}
