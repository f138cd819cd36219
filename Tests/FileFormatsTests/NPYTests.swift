import FileFormats
import TestSupport
import XCTest

final class NPYTests: XCTestCase {
    func testEncodeDecodeRoundTrip() throws {
        for shape in [[80, 63], [5], [2, 3, 4], [0, 7]] {
            let count = shape.reduce(1, *)
            let array = NumPyArray(shape: shape, values: (0..<count).map { Float($0) * 0.5 - 3 })
            let bytes = NPY.encode(array)
            XCTAssertEqual(try NPY.decode(bytes, path: "x.npy"), array)
        }
    }

    func testHeaderIsWhatNumpyWrites() throws {
        let bytes = NPY.encode(NumPyArray(shape: [2, 3], values: [Float](repeating: 0, count: 6)))
        XCTAssertEqual(Array(bytes[0..<8]), [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0, "data must start on a 64-byte boundary")
        let header = String(decoding: bytes[10..<10 + headerLength], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))
        XCTAssertTrue(header.hasSuffix(" \n"))
        XCTAssertEqual(bytes.count, 10 + headerLength + 6 * 4)
        // A 1-D shape is a one-element tuple.
        let vector = NPY.encode(NumPyArray(shape: [4], values: [1, 2, 3, 4]))
        XCTAssertTrue(String(decoding: vector[10..<74], as: UTF8.self).contains("'shape': (4,)"))
    }

    func testReadsFloat64FortranOrderAndBigEndian() throws {
        // Fortran order [2, 3] holds columns: memory 1 4 2 5 3 6 is the C array [[1 2 3] [4 5 6]].
        func file(descr: String, fortran: Bool, values: [UInt8]) -> [UInt8] {
            var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': (2, 3), }"
            header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
            let length = UInt16(header.utf8.count)
            return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8) + values
        }
        var float64: [UInt8] = []
        for v in [1.0, 4, 2, 5, 3, 6] { withUnsafeBytes(of: v.bitPattern.littleEndian) { float64 += $0 } }
        XCTAssertEqual(try NPY.decode(file(descr: "<f8", fortran: true, values: float64), path: "f.npy"),
                       NumPyArray(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]))
        var bigEndian: [UInt8] = []
        for v in [Float(1), 2, 3, 4, 5, 6] { withUnsafeBytes(of: v.bitPattern.bigEndian) { bigEndian += $0 } }
        XCTAssertEqual(try NPY.decode(file(descr: ">f4", fortran: false, values: bigEndian), path: "b.npy"),
                       NumPyArray(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]))
    }

    func testMalformedFilesGetClearErrors() {
        let good = NPY.encode(NumPyArray(shape: [2, 2], values: [1, 2, 3, 4]))
        func assertRejected(_ bytes: [UInt8], _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try NPY.decode(bytes, path: "bad.npy"), line: line) { error in
                XCTAssertTrue("\(error)".contains("'bad.npy'"), "\(error)", line: line)
                XCTAssertTrue("\(error)".contains(fragment), "'\(fragment)' missing in: \(error)", line: line)
            }
        }
        assertRejected([], "magic")
        assertRejected(Array("not numpy at all".utf8), "magic")
        assertRejected(Array(good.dropLast(3)), "needs 16 data bytes, file has 13")
        assertRejected(good + [0], "file has 17")
        assertRejected(Array(good.prefix(30)), "runs past the end")
        var int32 = good
        let descr = Array("'<f4'".utf8), replacement = Array("'<i4'".utf8)
        if let at = (0..<int32.count - descr.count).first(where: { Array(int32[$0..<$0 + descr.count]) == descr }) {
            int32.replaceSubrange(at..<at + descr.count, with: replacement)
        }
        assertRejected(int32, "dtype '<i4'")
        var version = good
        version[6] = 9
        assertRejected(version, "format version 9.0")
        // A shape whose size overflows must not allocate.
        var huge = "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 9), }"
        huge += String(repeating: " ", count: (64 - (10 + huge.utf8.count + 1) % 64) % 64) + "\n"
        let length = UInt16(huge.utf8.count)
        assertRejected([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(huge.utf8), "too large")
    }

    func testWriteAndReadFiles() throws {
        let folder = try makeTemporaryFolder(self)
        let array = NumPyArray(shape: [3, 2], values: [1, 2, 3, 4, 5, 6])
        try NPY.write(array, to: folder + "/a.npy")
        XCTAssertEqual(try NPY.read(folder + "/a.npy"), array)
        XCTAssertThrowsError(try NPY.read(folder + "/none.npy")) {
            XCTAssertEqual($0 as? FileInputError, .missing(path: folder + "/none.npy"))
        }
        XCTAssertEqual(listFolder(folder), ["a.npy"])
    }
}
