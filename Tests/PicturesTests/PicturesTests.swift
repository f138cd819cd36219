import FileFormats
import Pictures
import XCTest

/// Text, ticks and figures: what the pictures' words and axes are made of.
final class PicturesTests: XCTestCase {
    var font: Font!

    override func setUpWithError() throws {
        font = try Font.standard()
    }

    /// Text leaves ink where it is drawn and nowhere else; wider text is wider.
    func testTextIsDrawnWhereAsked() {
        var canvas = Canvas(width: 120, height: 40)
        let width = canvas.text("Hz 1000", x: 10, baseline: 25, size: 12, font: font)
        XCTAssertEqual(width, font.width(of: "Hz 1000", size: 12))
        XCTAssertGreaterThan(font.width(of: "Hz 10000", size: 12), width)
        XCTAssertGreaterThan(font.width(of: "Hz", size: 24), font.width(of: "Hz", size: 12))
        var inked: [(Int, Int)] = []
        for y in 0..<40 { for x in 0..<120 where canvas[x, y] != Canvas.white { inked.append((x, y)) } }
        XCTAssertGreaterThan(inked.count, 40)
        XCTAssertTrue(inked.allSatisfy { (10...(11 + width)).contains($0.0) && (12...28).contains($0.1) }, "ink outside the text's box")
        // Right alignment ends the text at x.
        var right = Canvas(width: 120, height: 40)
        right.text("1000", x: 100, baseline: 25, size: 12, font: font, alignment: .right)
        let columns = (0..<120).filter { x in (0..<40).contains { right[x, $0] != Canvas.white } }
        XCTAssertLessThanOrEqual(columns.max()!, 100)
        XCTAssertGreaterThanOrEqual(columns.max()!, 96)
    }

    func testNiceTicksAreRoundAndInside() {
        XCTAssertEqual(Ticks.nice(0...0.992, count: 5), [0, 0.2, 0.4, 0.6000000000000001, 0.8])
        XCTAssertEqual(Ticks.nice(0...1.008, count: 5), [0, 0.5, 1])
        XCTAssertEqual(Ticks.nice(-73.2...6.5, count: 5), [-60, -40, -20, 0])
        XCTAssertEqual(Ticks.nice(3...987, count: 5), [200, 400, 600, 800])
        XCTAssertEqual(Ticks.label(0.6000000000000001, step: 0.2), "0.6")
        XCTAssertEqual(Ticks.label(400, step: 200), "400")
        XCTAssertEqual(Ticks.nice(5...5), [5])
    }

    /// The heat map sits unchanged in the plot area; ticks and labels are drawn left of it
    /// and below it, the colour bar right of it, the title above; the picture is as large as
    /// its layout says.
    func testFigurePlacesTheHeatmapAxesAndColourBar() {
        let values = (0..<(8 * 10)).map { Float($0 % 10) }
        let heatmap = Heatmap.render(values, rows: 8, columns: 10, range: 0...9, cellSize: (12, 10))
        let figure = Figure(heatmap: heatmap, cellSize: (12, 10), title: "a title", xTicks: [.init(position: 0, label: "0.0"), .init(position: 9, label: "0.5")],
                            xLabel: "Time (s)", yTicks: [.init(position: 3.5, label: "1000")], yLabel: "Hz",
                            colorBar: .init(range: 0...9, colorMap: .magma, ticks: [(0, "+0 dB"), (9, "+9 dB")]))
        let layout = figure.layout(font: font)
        let picture = figure.render(font: font)
        XCTAssertEqual([picture.width, picture.height], [layout.width, layout.height])
        var canvas = Canvas(width: picture.width, height: picture.height)
        canvas.draw(picture, x: 0, y: 0)
        for y in 0..<heatmap.height {
            for x in 0..<heatmap.width {
                let o = (y * heatmap.width + x) * 3
                XCTAssertTrue(canvas[layout.plotX + x, layout.plotY + y] == (heatmap.pixels[o], heatmap.pixels[o + 1], heatmap.pixels[o + 2]))
            }
        }
        func inked(_ xs: Range<Int>, _ ys: Range<Int>) -> Int {
            xs.reduce(0) { count, x in count + ys.filter { canvas[x, $0] != Canvas.white }.count }
        }
        let plotBottom = layout.plotY + heatmap.height
        XCTAssertGreaterThan(inked(0..<(layout.plotX - 2), layout.plotY..<plotBottom), 10, "y tick labels")
        XCTAssertGreaterThan(inked(layout.plotX..<(layout.plotX + heatmap.width), (plotBottom + 2)..<picture.height), 20, "x ticks and label")
        XCTAssertGreaterThan(inked(0..<picture.width, 0..<(layout.plotY - 2)), 20, "title and y label")
        // The colour bar: the map's top colour at the top, its bottom colour at the bottom.
        let barX = layout.plotX + heatmap.width + 12 + 6
        XCTAssertTrue(canvas[barX, layout.plotY] == ColorMap.magma.rgb(1))
        XCTAssertTrue(canvas[barX, plotBottom - 1] == ColorMap.magma.rgb(0))
    }

    func testCaptionedGridHasItsHeadingAndCaptions() {
        let tile = Heatmap.render([0, 1, 2, 3], rows: 2, columns: 2, range: 0...3, cellSize: (20, 20))
        let plain = CaptionedGrid.render([tile, tile, tile], columns: 2, heading: "step 7", captions: nil, font: font)
        let captioned = CaptionedGrid.render([tile, tile, tile], columns: 2, heading: "step 7", captions: ["a", "b", "c"], font: font)
        XCTAssertEqual(plain.width, 2 * 40 + 3 * 2)
        XCTAssertGreaterThan(captioned.height, plain.height)
        XCTAssertEqual(captioned.width, plain.width)
    }

    func testAMissingFontIsAClearError() {
        XCTAssertThrowsError(try Font(path: "/nonexistent/font.ttf")) {
            XCTAssertTrue("\($0)".contains("/nonexistent/font.ttf") && "\($0)".contains("MELFORGE_FONT"), "\($0)")
        }
        XCTAssertTrue("\(PictureError.noFont(searched: ["/a.ttf"]))".contains("fonts-dejavu-core"))
    }
}
