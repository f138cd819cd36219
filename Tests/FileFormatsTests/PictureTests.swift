import FileFormats
import TestSupport
import XCTest

final class PictureTests: XCTestCase {
    func testPNGRoundTrip() throws {
        let folder = try makeTemporaryFolder(self)
        var generator = SeededGenerator(seed: 3)
        let pixels = (0..<(7 * 5 * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let image = PixelImage(width: 7, height: 5, channels: .rgb, pixels: pixels)
        try PNG.write(image, to: folder + "/a.png")
        XCTAssertEqual(try PNG.read(folder + "/a.png", as: .rgb), image)
        let gray = try PNG.read(folder + "/a.png", as: .gray)
        XCTAssertEqual(gray.width, 7)
        XCTAssertEqual(gray.pixels.count, 35)
    }

    func testPNGRejectsGarbage() throws {
        let folder = try makeTemporaryFolder(self)
        try AtomicFile.write(Array("not a png".utf8), to: folder + "/x.png")
        XCTAssertThrowsError(try PNG.read(folder + "/x.png", as: .rgb)) {
            XCTAssertTrue("\($0)".contains("x.png"), "\($0)")
        }
        let png = try PNG.encode(PixelImage(width: 4, height: 4, channels: .gray, pixels: [UInt8](repeating: 9, count: 16)))
        try AtomicFile.write(Array(png.prefix(png.count / 2)), to: folder + "/cut.png")
        XCTAssertThrowsError(try PNG.read(folder + "/cut.png", as: .gray))
    }

    func testHeatmapPutsLowRowsAtTheBottom() {
        // [2 rows, 1 column]: row 0 (low frequency) = low value, row 1 = high value.
        let image = Heatmap.render([0, 1], rows: 2, columns: 1, range: 0...1, colorMap: .gray, cellSize: (2, 1))
        XCTAssertEqual(image.width, 2)
        XCTAssertEqual(image.height, 2)
        XCTAssertEqual(Array(image.pixels[0..<3]), [255, 255, 255])  // top row: row 1, value 1
        XCTAssertEqual(Array(image.pixels[6..<9]), [0, 0, 0])        // bottom row: row 0, value 0
        // Non-finite values take the lowest colour rather than trapping.
        let odd = Heatmap.render([.nan, .infinity], rows: 1, columns: 2, range: 0...1, colorMap: .magma)
        XCTAssertEqual(Array(odd.pixels[0..<3]), Array(odd.pixels[3..<6]))
    }

    func testColorMapsRunDarkToLight() {
        for map in ColorMap.allCases {
            let (r0, g0, b0) = map.rgb(0)
            let (r1, g1, b1) = map.rgb(1)
            XCTAssertLessThan(Int(r0) + Int(g0) + Int(b0), Int(r1) + Int(g1) + Int(b1), map.rawValue)
        }
        XCTAssertTrue(ColorMap.magma.rgb(0) == (0, 0, 4) && ColorMap.magma.rgb(1) == (252, 253, 191))
    }
}
