import FileFormats
import Foundation
import Pictures
import Spectral

/// A spectrogram `[bins, frames]` in dB as a picture a person reads: time in seconds along
/// the bottom, frequency in Hz up the side at the mel bands' true positions, a colour bar in
/// dB (`%+.0f dB`, as librosa's examples label it) and a title. `.bare` is the heat map
/// alone, as the models' input pictures are.
public struct SpectrogramPicture {
    public enum Style: String, CaseIterable, Sendable {
        /// Axes, colour bar and title.
        case axes
        /// The heat map alone, one block of pixels per cell.
        case bare
    }

    public var frontEnd: FrontEndConfiguration
    public var title: String
    public var colorMap = ColorMap.magma
    public var style = Style.axes
    /// The smallest side of the heat map in pixels (cells are whole pixels).
    public var minimumSide = 320

    public init(frontEnd: FrontEndConfiguration, title: String) {
        self.frontEnd = frontEnd
        self.title = title
    }

    /// The title of a clip's picture: its name, the rate and the bands.
    public static func title(_ name: String, frontEnd: FrontEndConfiguration) -> String {
        "\(name)  \u{00B7}  \(frontEnd.sampleRate) Hz  \u{00B7}  \(frontEnd.nMels) mel bands"
    }

    /// The picture of `decibels` (`[bins, frames]`, dB), colours spanning `range`.
    public func render(_ decibels: [Float], bins: Int, frames: Int, range: ClosedRange<Float>) throws -> PixelImage {
        let cell = Heatmap.cellSize(rows: bins, columns: frames, minimum: minimumSide)
        let heatmap = Heatmap.render(decibels, rows: bins, columns: frames, range: range, colorMap: colorMap, cellSize: cell)
        guard style == .axes else { return heatmap }
        let barTicks = Ticks.nice(Double(range.lowerBound)...Double(range.upperBound), count: 5)
        let figure = Figure(
            heatmap: heatmap, cellSize: cell, title: title, xTicks: timeTicks(frames: frames), xLabel: "Time (s)",
            yTicks: frequencyTicks(bins: bins, cellHeight: cell.height), yLabel: "Hz",
            colorBar: .init(range: range, colorMap: colorMap,
                            ticks: barTicks.map { (Float($0), String(format: "%+.0f dB", $0)) }))
        return figure.render(font: try Font.standard())
    }

    /// Seconds at round values; frame t is centred on sample t x hop (and on the window's
    /// middle without centring).
    public func timeTicks(frames: Int) -> [Figure.Tick] {
        let secondsPerFrame = Double(frontEnd.hopLength) / Double(frontEnd.sampleRate)
        let offset = frontEnd.center ? 0 : Double(frontEnd.nFFT) / 2 / Double(frontEnd.sampleRate)
        let last = offset + Double(max(frames - 1, 1)) * secondsPerFrame
        let values = Ticks.nice(0...last, count: 5)
        let step = values.count > 1 ? values[1] - values[0] : last
        return values.map { Figure.Tick(position: ($0 - offset) / secondsPerFrame, label: Ticks.label($0, step: step)) }
    }

    /// Round frequencies placed where the mel bands put them: band m is centred on the
    /// (m + 1)-th of n + 2 points evenly spaced in mel from f-min to f-max.
    public func frequencyTicks(bins: Int, cellHeight: Int) -> [Figure.Tick] {
        let scale = frontEnd.melScale
        let fMax = frontEnd.fMax ?? Double(frontEnd.sampleRate) / 2
        let (low, high) = (scale.mel(fromHz: frontEnd.fMin), scale.mel(fromHz: fMax))
        let spacing = (high - low) / Double(bins + 1)
        let candidates: [Double] = [0, 125, 250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000]
        var ticks: [Figure.Tick] = []
        for hz in candidates where hz >= frontEnd.fMin && hz <= fMax {
            let row = (scale.mel(fromHz: hz) - low) / spacing - 1
            guard row >= -0.5, row <= Double(bins) - 0.5 else { continue }
            // At least a label's height apart.
            if let last = ticks.last, (row - last.position) * Double(cellHeight) < 14 { continue }
            ticks.append(Figure.Tick(position: row, label: "\(Int(hz))"))
        }
        return ticks
    }
}
