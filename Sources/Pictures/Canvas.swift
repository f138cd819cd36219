import FileFormats

/// An RGB picture to draw on: rectangles, lines, other pictures and text. Coordinates are
/// pixels from the top-left corner; drawing outside is clipped.
public struct Canvas {
    public typealias Color = (r: UInt8, g: UInt8, b: UInt8)
    public static let white: Color = (255, 255, 255)
    public static let black: Color = (0, 0, 0)
    public static let gray: Color = (110, 110, 110)

    public private(set) var width: Int
    public private(set) var height: Int
    var pixels: [UInt8]

    public init(width: Int, height: Int, background: Color = Canvas.white) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, background)
    }

    public var image: PixelImage { PixelImage(width: width, height: height, channels: .rgb, pixels: pixels) }

    public subscript(x: Int, y: Int) -> Color {
        let o = (y * width + x) * 3
        return (pixels[o], pixels[o + 1], pixels[o + 2])
    }

    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ color: Color) {
        for row in max(0, y)..<min(height, y + h) {
            for column in max(0, x)..<min(width, x + w) {
                let o = (row * width + column) * 3
                (pixels[o], pixels[o + 1], pixels[o + 2]) = color
            }
        }
    }

    /// A rectangle's outline, one pixel wide, inside the given bounds.
    public mutating func frame(x: Int, y: Int, width w: Int, height h: Int, _ color: Color) {
        fill(x: x, y: y, width: w, height: 1, color)
        fill(x: x, y: y + h - 1, width: w, height: 1, color)
        fill(x: x, y: y, width: 1, height: h, color)
        fill(x: x + w - 1, y: y, width: 1, height: h, color)
    }

    /// An RGB picture with its top-left corner at (x, y).
    public mutating func draw(_ picture: PixelImage, x: Int, y: Int) {
        precondition(picture.channels == .rgb, "Canvas.draw: RGB pictures only")
        for row in 0..<picture.height where (0..<height).contains(y + row) {
            for column in 0..<picture.width where (0..<width).contains(x + column) {
                let (s, d) = ((row * picture.width + column) * 3, ((y + row) * width + x + column) * 3)
                (pixels[d], pixels[d + 1], pixels[d + 2]) = (picture.pixels[s], picture.pixels[s + 1], picture.pixels[s + 2])
            }
        }
    }

    public enum Alignment { case left, center, right }

    /// `text` in `font` at `size` pixels, its baseline at `baseline`, aligned on `x`;
    /// returns its width. Glyph coverage blends the colour over what is there.
    @discardableResult
    public mutating func text(_ text: String, x: Int, baseline: Int, size: Int, font: Font, color: Color = Canvas.black,
                              alignment: Alignment = .left) -> Int {
        let width = font.width(of: text, size: size)
        var pen = switch alignment {
        case .left: x
        case .center: x - width / 2
        case .right: x - width
        }
        for scalar in text.unicodeScalars {
            let glyph = font.glyph(scalar, size: size)
            for row in 0..<glyph.rows {
                let y = baseline - glyph.top + row
                guard (0..<height).contains(y) else { continue }
                for column in 0..<glyph.width {
                    let px = pen + glyph.left + column
                    let coverage = Int(glyph.coverage[row * glyph.width + column])
                    guard coverage > 0, (0..<self.width).contains(px) else { continue }
                    let o = (y * self.width + px) * 3
                    func blend(_ under: UInt8, _ over: UInt8) -> UInt8 {
                        UInt8((Int(under) * (255 - coverage) + Int(over) * coverage + 127) / 255)
                    }
                    pixels[o] = blend(pixels[o], color.r)
                    pixels[o + 1] = blend(pixels[o + 1], color.g)
                    pixels[o + 2] = blend(pixels[o + 2], color.b)
                }
            }
            pen += glyph.advance
        }
        return width
    }
}
