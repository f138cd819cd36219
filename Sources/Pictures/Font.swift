import CFreeType
import Foundation
import Synchronization

/// A TrueType font rasterised by FreeType: the text of axes, titles and captions.
///
/// One face, rendered at any pixel size; glyphs are cached. FreeType's objects are not
/// thread-safe, so every use goes through one lock.
public final class Font: @unchecked Sendable {
    private var library: FT_Library?
    private var face: FT_Face?
    private let lock = NSLock()
    private var glyphs: [GlyphKey: Glyph] = [:]
    public let path: String

    /// Where Debian's fonts-dejavu-core puts DejaVu Sans, and the other usual places.
    public static let searchPaths = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ]

    /// The font of every picture: `MELFORGE_FONT` when set, else the first of `searchPaths`.
    public static func standard() throws -> Font {
        try shared.withLock { cached in
            if let cached { return cached }
            let environment = ProcessInfo.processInfo.environment["MELFORGE_FONT"]
            let candidates = environment.map { [$0] } ?? searchPaths
            guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
                throw PictureError.noFont(searched: candidates)
            }
            let font = try Font(path: path)
            cached = font
            return font
        }
    }

    private static let shared = Mutex<Font?>(nil)

    public init(path: String) throws {
        self.path = path
        guard FT_Init_FreeType(&library) == 0 else { throw PictureError.unreadableFont(path: path, reason: "FreeType did not start") }
        guard FT_New_Face(library, path, 0, &face) == 0, face != nil else {
            // deinit runs for this failed object too, and releases the library.
            face = nil
            throw PictureError.unreadableFont(path: path, reason: "not a font FreeType reads")
        }
    }

    deinit {
        if let face { FT_Done_Face(face) }
        if let library { FT_Done_FreeType(library) }
    }

    struct GlyphKey: Hashable {
        let scalar: UInt32
        let size: Int
    }

    /// A rendered glyph: coverage `[rows, width]` (0...255), its offset from the pen
    /// position (left, and top above the baseline) and how far the pen moves on.
    struct Glyph {
        let coverage: [UInt8]
        let width: Int
        let rows: Int
        let left: Int
        let top: Int
        let advance: Int
    }

    func glyph(_ scalar: Unicode.Scalar, size: Int) -> Glyph {
        lock.withLock {
            let key = GlyphKey(scalar: scalar.value, size: size)
            if let cached = glyphs[key] { return cached }
            var glyph = Glyph(coverage: [], width: 0, rows: 0, left: 0, top: 0, advance: size / 2)
            FT_Set_Pixel_Sizes(face, 0, FT_UInt(size))
            let render: Int32 = 1 << 2  // FT_LOAD_RENDER: load and rasterise (8-bit coverage)
            if FT_Load_Char(face, FT_ULong(scalar.value), render) == 0, let slot = face?.pointee.glyph?.pointee {
                let bitmap = slot.bitmap
                let (width, rows, pitch) = (Int(bitmap.width), Int(bitmap.rows), Int(bitmap.pitch))
                var coverage = [UInt8](repeating: 0, count: width * rows)
                if let buffer = bitmap.buffer {
                    for y in 0..<rows {
                        for x in 0..<width { coverage[y * width + x] = buffer[y * pitch + x] }
                    }
                }
                glyph = Glyph(coverage: coverage, width: width, rows: rows, left: Int(slot.bitmap_left),
                              top: Int(slot.bitmap_top), advance: Int(slot.advance.x >> 6))
            }
            glyphs[key] = glyph
            return glyph
        }
    }

    /// The width of `text` in pixels at `size` pixels.
    public func width(of text: String, size: Int) -> Int {
        text.unicodeScalars.reduce(0) { $0 + glyph($1, size: size).advance }
    }
}

public enum PictureError: Error, CustomStringConvertible {
    case noFont(searched: [String])
    case unreadableFont(path: String, reason: String)

    public var description: String {
        switch self {
        case .noFont(let searched):
            return "no font for the pictures' text: none of \(searched.joined(separator: ", ")) exists; install Debian's fonts-dejavu-core or set MELFORGE_FONT to a TrueType file"
        case .unreadableFont(let path, let reason):
            return "font '\(path)': \(reason) (MELFORGE_FONT names another TrueType file)"
        }
    }
}
