import FileFormats
import Foundation
import Pictures

/// The numbers of a run's log.jsonl as an SVG line chart: one line per series, the step along
/// the bottom, ticks at round values on both axes with light grid lines, the axes named with
/// their units, and a legend. Plain SVG text: it works offline, inlined in a page too.
public enum LossCurve {
    /// Plots every number of the log lines but the step, the speed and `excluding`; or only the
    /// keys in `only` when given. `title` heads the chart; `yLabel` names the values ("loss").
    public static func write(log: [String], to path: String, excluding: Set<String> = [], only: Set<String>? = nil,
                             title: String = "", yLabel: String = "loss") throws {
        var series: [String: [(Double, Double)]] = [:]
        for line in log {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = (object["step"] as? NSNumber)?.doubleValue else { continue }
            for (key, value) in object where key != "step" && key != "samples_per_s" && !excluding.contains(key)
                && only?.contains(key) ?? true {
                if let number = (value as? NSNumber)?.doubleValue, number.isFinite { series[key, default: []].append((step, number)) }
            }
        }
        let points = series.values.flatMap { $0 }
        guard var minX = points.map(\.0).min(), var maxX = points.map(\.0).max(),
              var minY = points.map(\.1).min(), var maxY = points.map(\.1).max() else { return }
        // One step or one value: a range around it, so that ticks and the point have room.
        if maxX == minX { (minX, maxX) = (max(0, minX - 1), maxX + 1) }
        if maxY == minY { (minY, maxY) = (minY - 1, maxY + 1) }
        let (width, height) = (640.0, 340.0)
        let (left, right, top, bottom) = (64.0, 24.0, 36.0, 48.0)
        func x(_ v: Double) -> Double { left + (maxX > minX ? (v - minX) / (maxX - minX) : 0.5) * (width - left - right) }
        func y(_ v: Double) -> Double { height - bottom - (v - minY) / (maxY - minY) * (height - top - bottom) }
        let colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(width / 2)" y="20" text-anchor="middle" font-size="14">\(escape(title))</text>

            """
        let xTicks = Ticks.nice(minX...maxX, count: 6)
        let xStep = xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1
        for value in xTicks where value == value.rounded() {
            let px = format(x(value))
            svg += "<line x1=\"\(px)\" y1=\"\(format(top))\" x2=\"\(px)\" y2=\"\(format(height - bottom))\" stroke=\"#e6e6e6\"/>\n"
            svg += "<text x=\"\(px)\" y=\"\(format(height - bottom + 16))\" text-anchor=\"middle\">\(Ticks.label(value, step: max(1, xStep)))</text>\n"
        }
        let yTicks = Ticks.nice(minY...maxY, count: 5)
        let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : maxY - minY
        for value in yTicks {
            let py = format(y(value))
            svg += "<line x1=\"\(format(left))\" y1=\"\(py)\" x2=\"\(format(width - right))\" y2=\"\(py)\" stroke=\"#e6e6e6\"/>\n"
            svg += "<text x=\"\(format(left - 6))\" y=\"\(py)\" dy=\"4\" text-anchor=\"end\">\(Ticks.label(value, step: yStep))</text>\n"
        }
        svg += """
            <line x1="\(format(left))" y1="\(format(height - bottom))" x2="\(format(width - right))" y2="\(format(height - bottom))" stroke="black"/>
            <line x1="\(format(left))" y1="\(format(top))" x2="\(format(left))" y2="\(format(height - bottom))" stroke="black"/>
            <text x="\(format((left + width - right) / 2))" y="\(format(height - 10))" text-anchor="middle">step</text>
            <text x="14" y="\(format((top + height - bottom) / 2))" text-anchor="middle" transform="rotate(-90 14 \(format((top + height - bottom) / 2)))">\(escape(yLabel))</text>

            """
        let names = series.keys.sorted()
        for (index, key) in names.enumerated() {
            let polyline = series[key]!.map { "\(format(x($0.0))),\(format(y($0.1)))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colors[index % colors.count])\" stroke-width=\"1.5\" points=\"\(polyline)\"/>\n"
            if let only = series[key]!.first, series[key]!.count == 1 {
                svg += "<circle cx=\"\(format(x(only.0)))\" cy=\"\(format(y(only.1)))\" r=\"3\" fill=\"\(colors[index % colors.count])\"/>\n"
            }
        }
        // The legend last, over the lines.
        let legendWidth = 16.0 + 7.5 * Double(names.map(\.count).max() ?? 0) + 24
        let legendX = width - right - legendWidth - 6
        svg += "<g class=\"legend\"><rect x=\"\(format(legendX))\" y=\"\(format(top + 6))\" width=\"\(format(legendWidth))\" height=\"\(format(8 + 18 * Double(names.count)))\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbbbbb\"/>\n"
        for (index, key) in names.enumerated() {
            let color = colors[index % colors.count]
            let rowY = top + 6 + 16 + 18 * Double(index)
            svg += "<line x1=\"\(format(legendX + 8))\" y1=\"\(format(rowY - 4))\" x2=\"\(format(legendX + 26))\" y2=\"\(format(rowY - 4))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            svg += "<text x=\"\(format(legendX + 32))\" y=\"\(format(rowY))\">\(escape(key))</text>\n"
        }
        svg += "</g>\n"
        svg += "</svg>\n"
        try AtomicFile.write(Array(svg.utf8), to: path)
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
