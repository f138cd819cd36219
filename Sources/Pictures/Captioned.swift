import FileFormats

/// Pictures with words: a grid of tiles under a heading, each tile with its caption.
public enum CaptionedGrid {
    /// Same-sized RGB `tiles` in rows of `columns`, `gap` pixels apart, `heading` above,
    /// `captions[i]` (if any) under tile i.
    public static func render(_ tiles: [PixelImage], columns: Int, gap: Int = 2, heading: String, captions: [String]?,
                              font: Font) -> PixelImage {
        precondition(!tiles.isEmpty && columns >= 1 && (captions?.count ?? tiles.count) == tiles.count)
        let (w, h) = (tiles[0].width, tiles[0].height)
        let size = Figure.labelSize
        let captionHeight = captions == nil ? 0 : size + 6
        let headingHeight = Figure.titleSize + 12
        let rows = (tiles.count + columns - 1) / columns
        let gridWidth = min(columns, tiles.count) * w + (min(columns, tiles.count) + 1) * gap
        let width = max(gridWidth, font.width(of: heading, size: Figure.titleSize) + 16)
        let left = (width - gridWidth) / 2
        var canvas = Canvas(width: width, height: headingHeight + rows * (h + captionHeight + gap) + gap)
        canvas.text(heading, x: width / 2, baseline: 6 + Figure.titleSize, size: Figure.titleSize, font: font, alignment: .center)
        for (index, tile) in tiles.enumerated() {
            let x = left + gap + (index % columns) * (w + gap)
            let y = headingHeight + (index / columns) * (h + captionHeight + gap)
            canvas.draw(tile, x: x, y: y)
            if let captions {
                canvas.text(captions[index], x: x + w / 2, baseline: y + h + size + 2, size: size, font: font, alignment: .center)
            }
        }
        return canvas.image
    }
}
