/// Pictures of matrices: a spectrogram, a mel image, a generated sample.
public enum Heatmap {
    /// Renders a row-major `[rows, columns]` matrix as a colour picture.
    ///
    /// - Parameters:
    ///   - values: `rows * columns` values, row-major; a spectrogram is `[bins, frames]`.
    ///   - range: the values mapped to the ends of the colour map; others are clamped.
    ///     Non-finite values are drawn with the lowest colour.
    ///   - lowRowAtBottom: draw row 0 at the bottom, as frequency axes are read.
    ///   - cellSize: each value becomes a `cellSize.width x cellSize.height` block of pixels.
    public static func render(
        _ values: [Float], rows: Int, columns: Int, range: ClosedRange<Float>,
        colorMap: ColorMap = .magma, lowRowAtBottom: Bool = true,
        cellSize: (width: Int, height: Int) = (1, 1)
    ) -> PixelImage {
        precondition(values.count == rows * columns && rows > 0 && columns > 0)
        precondition(cellSize.width >= 1 && cellSize.height >= 1)
        let width = columns * cellSize.width, height = rows * cellSize.height
        let span = range.upperBound - range.lowerBound
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for row in 0..<rows {
            let top = (lowRowAtBottom ? rows - 1 - row : row) * cellSize.height
            for column in 0..<columns {
                let value = values[row * columns + column]
                let t = value.isFinite && span > 0 ? (value - range.lowerBound) / span : 0
                let (r, g, b) = colorMap.rgb(t)
                for y in top..<top + cellSize.height {
                    var offset = (y * width + column * cellSize.width) * 3
                    for _ in 0..<cellSize.width {
                        pixels[offset] = r
                        pixels[offset + 1] = g
                        pixels[offset + 2] = b
                        offset += 3
                    }
                }
            }
        }
        return PixelImage(width: width, height: height, channels: .rgb, pixels: pixels)
    }

    /// A cell size that makes a `rows x columns` picture at least about `minimum`
    /// pixels on each side, so an 80x63 mel image is not a thumbnail.
    public static func cellSize(rows: Int, columns: Int, minimum: Int = 320) -> (width: Int, height: Int) {
        (max(1, (minimum + columns - 1) / columns), max(1, (minimum + rows - 1) / rows))
    }
}

extension Heatmap {
    /// Same-sized RGB pictures side by side, `columns` per row, `gap` dark pixels between.
    public static func grid(_ tiles: [PixelImage], columns: Int, gap: Int = 2) -> PixelImage {
        precondition(!tiles.isEmpty && columns >= 1)
        let (w, h) = (tiles[0].width, tiles[0].height)
        precondition(tiles.allSatisfy { $0.width == w && $0.height == h && $0.channels == .rgb })
        let rows = (tiles.count + columns - 1) / columns
        let width = columns * w + (columns + 1) * gap, height = rows * h + (rows + 1) * gap
        var pixels = [UInt8](repeating: 24, count: width * height * 3)
        for (index, tile) in tiles.enumerated() {
            let (left, top) = (gap + (index % columns) * (w + gap), gap + (index / columns) * (h + gap))
            for y in 0..<h {
                let destination = ((top + y) * width + left) * 3
                pixels.replaceSubrange(destination..<destination + w * 3, with: tile.pixels[(y * w * 3)..<((y + 1) * w * 3)])
            }
        }
        return PixelImage(width: width, height: height, channels: .rgb, pixels: pixels)
    }
}
