import FileFormats
import Foundation
import TestSupport
import XCTest

final class SafeTensorsTests: XCTestCase {
    let sample = SafeTensors(
        tensors: [NamedTensor(name: "generator.conv1.weight", shape: [2, 1, 2, 2], values: (0..<8).map { Float($0) - 3.5 }),
                  NamedTensor(name: "generator.conv1.bias", shape: [2], values: [0.25, -1]),
                  NamedTensor(name: "step", shape: [], values: [42])],
        metadata: ["config": "{\"latent\": 100}", "format": "melforge/1"])

    func testRoundTrip() throws {
        let folder = try makeTemporaryFolder(self)
        try sample.write(to: folder + "/model.safetensors")
        let back = try SafeTensors.read(folder + "/model.safetensors")
        XCTAssertEqual(back.metadata, sample.metadata)
        XCTAssertEqual(back.tensors, sample.tensors.sorted { $0.name < $1.name })
        XCTAssertEqual(back["step"]?.values, [42])
        XCTAssertEqual(listFolder(folder), ["model.safetensors"])
    }

    func testLayoutIsWhatTheFormatSays() throws {
        let bytes = try sample.encode()
        let headerLength = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        XCTAssertEqual((8 + headerLength) % 8, 0, "data must start 8-byte aligned")
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<8 + headerLength])) as! [String: Any]
        let bias = header["generator.conv1.bias"] as! [String: Any]
        XCTAssertEqual(bias["dtype"] as? String, "F32")
        XCTAssertEqual(bias["shape"] as? [Int], [2])
        XCTAssertEqual(bias["data_offsets"] as? [Int], [0, 8])  // sorted by name: bias first
        XCTAssertEqual(bytes.count, 8 + headerLength + 4 * (8 + 2 + 1))
    }

    /// A file written by the reference implementation (Python's safetensors, see
    /// Scripts/make-fixtures.py), with F32, F16 and F64 tensors, a scalar, an empty tensor.
    func testReadsTheReferenceImplementationsFile() throws {
        let folder = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path
        let file = try SafeTensors.read(folder + "/reference.safetensors")
        let expected = try JSONSerialization.jsonObject(with: Data(readFileBytes(folder + "/reference.json"))) as! [String: Any]
        XCTAssertEqual(file.metadata, expected["metadata"] as? [String: String])
        let tensors = expected["tensors"] as! [String: [String: Any]]
        XCTAssertEqual(Set(file.tensors.map(\.name)), Set(tensors.keys))
        for (name, description) in tensors {
            let tensor = try XCTUnwrap(file[name])
            XCTAssertEqual(tensor.shape, description["shape"] as? [Int], name)
            let values = (description["values"] as! [Double]).map(Float.init)
            assertClose(tensor.values, values, absolute: 0, relative: 1e-7, name)
        }
    }

    func testMalformedFilesAreRefusedWithTheirReason() throws {
        let good = try sample.encode()
        let headerLength = Int(good[0])
        func rejected(_ bytes: [UInt8], _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try SafeTensors.decode(bytes, path: "m.safetensors"), line: line) { error in
                XCTAssertTrue("\(error)".contains("'m.safetensors'"), "\(error)", line: line)
                XCTAssertTrue("\(error)".contains(fragment), "'\(fragment)' not in: \(error)", line: line)
            }
        }
        func withHeader(_ json: String, data: [UInt8]) -> [UInt8] {
            withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian, Array.init) + Array(json.utf8) + data
        }
        rejected([], "too short")
        rejected(Array(good.prefix(5)), "too short")
        rejected(Array(good.prefix(8 + headerLength / 2)), "claims")                   // truncated header
        rejected(Array(good.dropLast(4)), "outside")                                   // truncated data
        rejected(good + [0, 0, 0, 0], "cover")                                         // bytes nothing claims
        rejected([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F] + good.dropFirst(8), "claims")  // absurd length
        rejected(withHeader("not json", data: []), "not a JSON object")
        rejected(withHeader("[1, 2]", data: []), "not a JSON object")
        rejected(withHeader(#"{"a": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}"#, data: [UInt8](repeating: 0, count: 8)), "dtype I64")
        rejected(withHeader(#"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, data: [UInt8](repeating: 0, count: 8)), "needs 12 bytes")
        rejected(withHeader(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 800]}}"#, data: [UInt8](repeating: 0, count: 8)), "outside")
        rejected(withHeader(#"{"a": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}}"#, data: [UInt8](repeating: 0, count: 8)), "larger than")
        rejected(withHeader(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
                            data: [UInt8](repeating: 0, count: 8)), "overlaps")
        rejected(withHeader(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, data: [UInt8](repeating: 0, count: 8)), "gap")
        rejected(withHeader(#"{"a": {"dtype": "F32", "shape": [1]}}"#, data: []), "lacks")
        rejected(withHeader(#"{"__metadata__": {"epoch": 3}}"#, data: []), "strings")
    }

    func testRefusesToWriteAmbiguousFiles() {
        let twice = SafeTensors(tensors: [NamedTensor(name: "w", shape: [1], values: [1]),
                                          NamedTensor(name: "w", shape: [1], values: [2])])
        XCTAssertThrowsError(try twice.encode()) { XCTAssertTrue("\($0)".contains("appears twice"), "\($0)") }
        let reserved = SafeTensors(tensors: [NamedTensor(name: "__metadata__", shape: [1], values: [1])])
        XCTAssertThrowsError(try reserved.encode())
    }
}
