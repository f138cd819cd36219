import Datasets
import FileFormats
import Foundation
import Tensors
import TestSupport
import XCTest

final class DatasetsTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
    }

    /// An IDX file: 0, 0, type 0x08, rank, big-endian dimensions, bytes.
    private func idx(_ dimensions: [Int], _ data: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        for d in dimensions { bytes += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
        return bytes + data
    }

    func testReadsIDXImagesAndLabelsPlainAndGzipped() throws {
        let pixels: [UInt8] = (0..<(2 * 3 * 4)).map { UInt8($0 * 10) }
        try AtomicFile.write(idx([2, 3, 4], pixels), to: folder + "/images-idx3-ubyte")
        try AtomicFile.write(idx([2], [7, 3]), to: folder + "/labels-idx1-ubyte")
        let images = try IDX.images(folder + "/images-idx3-ubyte")
        XCTAssertEqual(images.shape, [2, 1, 3, 4])
        XCTAssertEqual(images.values[0], -1)
        assertClose(Array(images.values.prefix(3)), [-1, -1 + 20.0 / 255, -1 + 40.0 / 255], absolute: 1e-6)
        XCTAssertEqual(try IDX.labels(folder + "/labels-idx1-ubyte"), [7, 3])

        // The same file gzip'd, as the MNIST files are distributed.
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-k", folder + "/images-idx3-ubyte"]
        try gzip.run()
        gzip.waitUntilExit()
        XCTAssertEqual(try IDX.images(folder + "/images-idx3-ubyte.gz"), images)
    }

    func testBadIDXFilesAreNamed() throws {
        let cases: [([UInt8], String)] = [
            ([1, 2, 3], "two zero bytes"),
            ([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], "element type 0xd"),
            (idx([2, 3, 4], [1, 2, 3]), "need 24 bytes"),
            (Array(idx([2, 3, 4], []).prefix(9)), "cut short"),
            ([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3], "gzip"),
        ]
        for (index, (bytes, fragment)) in cases.enumerated() {
            let path = folder + "/bad\(index)"
            try AtomicFile.write(bytes, to: path)
            XCTAssertThrowsError(try IDX.images(path)) {
                XCTAssertTrue("\($0)".contains(path) && "\($0)".contains(fragment), "'\(fragment)' not in \($0)")
            }
        }
        try AtomicFile.write(idx([2], [1, 2]), to: folder + "/labels")
        XCTAssertThrowsError(try IDX.images(folder + "/labels")) { XCTAssertTrue("\($0)".contains("images need 3")) }
    }

    func testImageFolderLabelsByParentFolder() throws {
        for (label, shade) in [("seven", UInt8(255)), ("one", UInt8(0))] {
            try FileManager.default.createDirectory(atPath: folder + "/\(label)", withIntermediateDirectories: true)
            for i in 0..<2 {
                try PNG.write(PixelImage(width: 4, height: 3, channels: .gray, pixels: [UInt8](repeating: shade, count: 12)),
                              to: folder + "/\(label)/\(i).png")
            }
        }
        let data = try ImageFolder(folder: folder)
        XCTAssertEqual(data.images.shape, [4, 1, 3, 4])
        XCTAssertEqual(data.classes, ["one", "seven"])
        XCTAssertEqual(data.labels, [0, 0, 1, 1])                 // sorted by path: one/*, seven/*
        XCTAssertEqual(data.images.values.first, -1)              // black
        XCTAssertEqual(data.images.values.last, 1)                // white

        try PNG.write(PixelImage(width: 5, height: 3, channels: .gray, pixels: [UInt8](repeating: 0, count: 15)),
                      to: folder + "/seven/wide.png")
        XCTAssertThrowsError(try ImageFolder(folder: folder)) { XCTAssertTrue("\($0)".contains("wide.png"), "\($0)") }
        XCTAssertThrowsError(try ImageFolder(folder: folder + "/none")) { XCTAssertTrue("\($0)".contains("no such folder")) }
    }
}
