import FileFormats
import Foundation

/// A heat map with what a reader needs around it: a title, ticks and labels on both axes and
/// a colour bar, as `librosa.display.specshow` with `plt.colorbar` draws them.
///
/// Positions are in cells of the heat map: column c's centre is x = c, row r's centre is
/// y = r with row 0 at the bottom.
public struct Figure {
    public struct Tick: Equatable {
        public var position: Double
        public var label: String
        public init(position: Double, label: String) {
            self.position = position
            self.label = label
        }
    }

    /// The colour bar: what the colours mean.
    public struct ColorBar {
        public var range: ClosedRange<Float>
        public var colorMap: ColorMap
        /// Ticks by value (within `range`).
        public var ticks: [(value: Float, label: String)]
        public init(range: ClosedRange<Float>, colorMap: ColorMap, ticks: [(value: Float, label: String)]) {
            self.range = range
            self.colorMap = colorMap
            self.ticks = ticks
        }
    }

    /// The heat map, drawn with row 0 at the bottom, `cellSize` pixels a cell.
    public var heatmap: PixelImage
    public var cellSize: (width: Int, height: Int)
    public var title: String
    public var xTicks: [Tick]
    public var xLabel: String
    public var yTicks: [Tick]
    public var yLabel: String
    public var colorBar: ColorBar?

    public init(heatmap: PixelImage, cellSize: (width: Int, height: Int), title: String, xTicks: [Tick], xLabel: String,
                yTicks: [Tick], yLabel: String, colorBar: ColorBar?) {
        self.heatmap = heatmap
        self.cellSize = cellSize
        self.title = title
        self.xTicks = xTicks
        self.xLabel = xLabel
        self.yTicks = yTicks
        self.yLabel = yLabel
        self.colorBar = colorBar
    }

    /// Text sizes in pixels.
    static let titleSize = 13, labelSize = 11

    /// Where the heat map sits in the rendered figure: its frame is the plot area.
    public struct Layout: Equatable {
        public var plotX: Int
        public var plotY: Int
        public var width: Int
        public var height: Int
    }

    public func layout(font: Font) -> Layout {
        let tickLabels = yTicks.map { font.width(of: $0.label, size: Self.labelSize) }.max() ?? 0
        let left = max(tickLabels + 10, font.width(of: yLabel, size: Self.labelSize) / 2 + 4, 24)
        let top = 8 + Self.titleSize + 6 + Self.labelSize + 6
        let bottom = 6 + Self.labelSize + 6 + Self.labelSize + 6
        let barLabels = colorBar?.ticks.map { font.width(of: $0.label, size: Self.labelSize) }.max() ?? 0
        let right = colorBar == nil ? 12 : 12 + 12 + 4 + barLabels + 8
        let width = max(left + heatmap.width + right, font.width(of: title, size: Self.titleSize) + 16)
        return Layout(plotX: left, plotY: top, width: width, height: top + heatmap.height + bottom)
    }

    public func render(font: Font) -> PixelImage {
        let l = layout(font: font)
        var canvas = Canvas(width: l.width, height: l.height)
        let (plotW, plotH) = (heatmap.width, heatmap.height)
        canvas.draw(heatmap, x: l.plotX, y: l.plotY)
        canvas.frame(x: l.plotX - 1, y: l.plotY - 1, width: plotW + 2, height: plotH + 2, Canvas.gray)
        canvas.text(title, x: l.width / 2, baseline: 8 + Self.titleSize, size: Self.titleSize, font: font, alignment: .center)
        canvas.text(yLabel, x: 4, baseline: l.plotY - 6, size: Self.labelSize, font: font)

        for tick in xTicks {
            let x = l.plotX + Int(((tick.position + 0.5) * Double(cellSize.width)).rounded())
            guard (l.plotX...(l.plotX + plotW)).contains(x) else { continue }
            canvas.fill(x: x, y: l.plotY + plotH + 1, width: 1, height: 4, Canvas.gray)
            canvas.text(tick.label, x: x, baseline: l.plotY + plotH + 6 + Self.labelSize, size: Self.labelSize, font: font,
                        alignment: .center)
        }
        canvas.text(xLabel, x: l.plotX + plotW / 2, baseline: l.plotY + plotH + 12 + 2 * Self.labelSize, size: Self.labelSize,
                    font: font, alignment: .center)
        for tick in yTicks {
            let y = l.plotY + plotH - Int(((tick.position + 0.5) * Double(cellSize.height)).rounded())
            guard (l.plotY...(l.plotY + plotH)).contains(y) else { continue }
            canvas.fill(x: l.plotX - 5, y: y, width: 4, height: 1, Canvas.gray)
            canvas.text(tick.label, x: l.plotX - 7, baseline: y + Self.labelSize / 2 - 1, size: Self.labelSize, font: font,
                        alignment: .right)
        }
        if let colorBar {
            let barX = l.plotX + plotW + 12
            let span = colorBar.range.upperBound - colorBar.range.lowerBound
            for row in 0..<plotH {
                let t = Float(plotH - 1 - row) / Float(max(1, plotH - 1))
                canvas.fill(x: barX, y: l.plotY + row, width: 12, height: 1, colorBar.colorMap.rgb(t))
            }
            canvas.frame(x: barX - 1, y: l.plotY - 1, width: 14, height: plotH + 2, Canvas.gray)
            for tick in colorBar.ticks where span > 0 && colorBar.range.contains(tick.value) {
                let y = l.plotY + plotH - 1 - Int((Float(plotH - 1) * (tick.value - colorBar.range.lowerBound) / span).rounded())
                canvas.fill(x: barX + 13, y: y, width: 3, height: 1, Canvas.gray)
                canvas.text(tick.label, x: barX + 18, baseline: y + Self.labelSize / 2 - 1, size: Self.labelSize, font: font)
            }
        }
        return canvas.image
    }
}

/// Round tick values for an axis.
public enum Ticks {
    /// About `count` values of 1, 2 or 5 times a power of ten, evenly spaced, within `range`.
    public static func nice(_ range: ClosedRange<Double>, count: Int = 5) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite, count >= 1 else { return [range.lowerBound] }
        let rough = span / Double(count)
        let power = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= rough } ?? 10 * power
        let first = (range.lowerBound / step).rounded(.up) * step
        return stride(from: first, through: range.upperBound + step * 1e-9, by: step).map { abs($0) < step * 1e-9 ? 0 : $0 }
    }

    /// A value as a tick label: as few decimals as the step between ticks needs.
    public static func label(_ value: Double, step: Double) -> String {
        let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
        return String(format: "%.\(decimals)f", value)
    }
}
