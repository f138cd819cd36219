import CPNG

/// An 8-bit picture, rows top to bottom, pixels left to right, channels interleaved.
public struct PixelImage: Equatable, Sendable {
    public enum Channels: Int, Sendable {
        case gray = 1
        case rgb = 3
        case rgba = 4
    }

    public var width: Int
    public var height: Int
    public var channels: Channels
    /// `height * width * channels.rawValue` bytes, row-major, interleaved.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Channels, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * channels.rawValue,
                     "PixelImage: \(pixels.count) bytes do not fill \(width)x\(height)x\(channels.rawValue)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}

/// PNG files through libpng's simplified API (`png_image_*`), which reports errors
/// in the image struct instead of through `longjmp`, so nothing unwinds Swift frames.
public enum PNG {
    /// The bytes of a PNG file holding `image`.
    public static func encode(_ image: PixelImage) throws -> [UInt8] {
        var control = makeControl(image)
        var size: png_alloc_size_t = 0
        let stride = Int32(image.width * image.channels.rawValue)
        // First call measures, second call writes.
        guard image.pixels.withUnsafeBytes({ png_image_write_to_memory(&control, nil, &size, 0, $0.baseAddress, stride, nil) }) != 0
        else { throw PNGError.encodeFailed(reason: message(of: &control)) }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let ok = bytes.withUnsafeMutableBytes { output in
            image.pixels.withUnsafeBytes { input in
                png_image_write_to_memory(&control, output.baseAddress, &size, 0, input.baseAddress, stride, nil)
            }
        }
        guard ok != 0 else { throw PNGError.encodeFailed(reason: message(of: &control)) }
        return Array(bytes[0..<Int(size)])
    }

    /// Writes `image` to `path` as PNG, atomically.
    public static func write(_ image: PixelImage, to path: String) throws {
        try AtomicFile.write(try encode(image), to: path)
    }

    /// Reads any PNG (palette, 16-bit, interlaced, ...) converted to 8-bit `channels`.
    public static func read(_ path: String, as channels: PixelImage.Channels) throws -> PixelImage {
        let bytes = try readFileBytes(path, limit: 1 << 30)
        var control = png_image()
        control.version = png_uint_32(PNG_IMAGE_VERSION)
        let begun = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&control, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw PNGError.decodeFailed(path: path, reason: message(of: &control)) }
        defer { png_image_free(&control) }

        let width = Int(control.width), height = Int(control.height)
        // A header may claim any size: refuse pictures no data set holds before allocating for them.
        guard width > 0, height > 0, width * height <= 1 << 28 else {
            throw PNGError.decodeFailed(path: path, reason: "unsupported size \(width)x\(height)")
        }
        control.format = format(for: channels)
        var pixels = [UInt8](repeating: 0, count: width * height * channels.rawValue)
        let finished = bytes.withUnsafeBytes { _ in
            pixels.withUnsafeMutableBytes {
                png_image_finish_read(&control, nil, $0.baseAddress, Int32(width * channels.rawValue), nil)
            }
        }
        guard finished != 0 else { throw PNGError.decodeFailed(path: path, reason: message(of: &control)) }
        return PixelImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// The libpng version string, e.g. "1.6.39".
    public static var libraryVersion: String { String(cString: png_get_libpng_ver(nil)) }

    // MARK: Implementation

    private static func makeControl(_ image: PixelImage) -> png_image {
        var control = png_image()
        control.version = png_uint_32(PNG_IMAGE_VERSION)
        control.width = png_uint_32(image.width)
        control.height = png_uint_32(image.height)
        control.format = format(for: image.channels)
        return control
    }

    private static func format(for channels: PixelImage.Channels) -> png_uint_32 {
        switch channels {
        case .gray: return png_uint_32(PNG_FORMAT_GRAY)
        case .rgb: return png_uint_32(PNG_FORMAT_RGB)
        case .rgba: return png_uint_32(PNG_FORMAT_RGB) | png_uint_32(PNG_FORMAT_FLAG_ALPHA)
        }
    }

    private static func message(of control: inout png_image) -> String {
        withUnsafeBytes(of: &control.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

public enum PNGError: Error, CustomStringConvertible, Equatable {
    case encodeFailed(reason: String)
    case decodeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .encodeFailed(let reason): return "PNG encoding failed: \(reason)"
        case .decodeFailed(let path, let reason): return "'\(path)' is not a readable PNG: \(reason)"
        }
    }
}
