import FileFormats
import Foundation

/// The losses of a run's log.jsonl as an SVG line chart: one line per loss, step on the x axis.
public enum LossCurve {
    /// Plots every number of the log lines but the step, the speed and `excluding`; or only the
    /// keys in `only` when given.
    public static func write(log: [String], to path: String, excluding: Set<String> = [], only: Set<String>? = nil) throws {
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
        guard let minX = points.map(\.0).min(), let maxX = points.map(\.0).max(),
              let minY = points.map(\.1).min(), let maxY = points.map(\.1).max() else { return }
        let (width, height, margin) = (640.0, 320.0, 48.0)
        func x(_ v: Double) -> Double { margin + (maxX > minX ? (v - minX) / (maxX - minX) : 0.5) * (width - 2 * margin) }
        func y(_ v: Double) -> Double { height - margin - (maxY > minY ? (v - minY) / (maxY - minY) : 0.5) * (height - 2 * margin) }
        let colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"]
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <line x1="\(margin)" y1="\(height - margin)" x2="\(width - margin)" y2="\(height - margin)" stroke="black"/>
            <line x1="\(margin)" y1="\(margin)" x2="\(margin)" y2="\(height - margin)" stroke="black"/>
            <text x="\(margin)" y="\(height - margin + 16)">step \(Int(minX))</text>
            <text x="\(width - margin)" y="\(height - margin + 16)" text-anchor="end">\(Int(maxX))</text>
            <text x="\(margin - 4)" y="\(margin)" text-anchor="end">\(String(format: "%.3g", maxY))</text>
            <text x="\(margin - 4)" y="\(height - margin)" text-anchor="end">\(String(format: "%.3g", minY))</text>

            """
        for (index, key) in series.keys.sorted().enumerated() {
            let color = colors[index % colors.count]
            let polyline = series[key]!.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(polyline)\"/>\n"
            svg += "<text x=\"\(width - margin)\" y=\"\(margin + 16 * Double(index))\" text-anchor=\"end\" fill=\"\(color)\">\(key)</text>\n"
        }
        svg += "</svg>\n"
        try AtomicFile.write(Array(svg.utf8), to: path)
    }
}
