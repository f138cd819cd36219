import Foundation

/// A dense float32 array in C (row-major) order, as NumPy's `.npy` files hold it.
public struct NumPyArray: Equatable, Sendable {
    /// Dimensions, outermost first (NumPy's `shape`).
    public var shape: [Int]
    /// `shape.reduce(1, *)` values, last index fastest.
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                     "NumPyArray: \(values.count) values do not fill shape \(shape)")
        self.shape = shape
        self.values = values
    }
}

/// NumPy's `.npy` format (version 1.0 written; 1.0, 2.0 and 3.0 read).
///
/// Layout: the magic `\x93NUMPY`, a major and minor version byte, a little-endian
/// header length (2 bytes in 1.0, 4 bytes in 2.0/3.0), an ASCII Python dict
/// literal `{'descr': '<f4', 'fortran_order': False, 'shape': (80, 63), }`
/// padded with spaces and a final newline so the data starts on a 64-byte
/// boundary, then the raw data.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    /// The bytes of a version 1.0 `.npy` file holding `array` as little-endian float32.
    public static func encode(_ array: NumPyArray) -> [UInt8] {
        let shapeText: String
        switch array.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(array.shape[0]),)"
        default: shapeText = "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = magic.count + 2 + 2 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"

        var bytes = magic + [1, 0]
        let headerLength = UInt16(header.utf8.count)
        bytes += [UInt8(headerLength & 0xFF), UInt8(headerLength >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + 4 * array.values.count)
        bytes.appendLittleEndian(array.values)
        return bytes
    }

    /// Writes `array` to `path` atomically.
    public static func write(_ array: NumPyArray, to path: String) throws {
        try AtomicFile.write(encode(array), to: path)
    }

    /// Reads a `.npy` file of float32 or float64 (converted to float32; refused with
    /// `float32Only`), either byte order, C or Fortran order (returned in C order).
    public static func read(_ path: String, float32Only: Bool = false) throws -> NumPyArray {
        try decode(try readFileBytes(path), path: path, float32Only: float32Only)
    }

    /// Parses the bytes of a `.npy` file; `path` only names the source in errors.
    public static func decode(_ bytes: [UInt8], path: String, float32Only: Bool = false) throws -> NumPyArray {
        func fail(_ reason: String) -> NPYError { NPYError.malformed(path: path, reason: reason) }

        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw fail("not a .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("file ends inside the header length") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw fail("format version \(major).\(bytes[7]) (supported: 1.0, 2.0, 3.0)")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw fail("header of \(headerLength) bytes runs past the end of the \(bytes.count)-byte file")
        }
        guard let header = String(bytes: bytes[headerStart..<headerStart + headerLength], encoding: .utf8) else {
            throw fail("header is not text")
        }
        let fields = try parseHeader(header, float32Only: float32Only, fail: fail)
        if float32Only && fields.elementSize != 4 {
            throw fail("dtype '\(fields.descr)' is float64; expected float32 ('<f4'): save with arr.astype(np.float32)")
        }

        let elementCount = try fields.shape.reduce(1) { product, dimension in
            let (result, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw fail("shape \(fields.shape) is too large") }
            return result
        }
        let dataStart = headerStart + headerLength
        let available = bytes.count - dataStart
        let (needed, overflow) = elementCount.multipliedReportingOverflow(by: fields.elementSize)
        guard !overflow, needed == available else {
            throw fail("shape \(fields.shape) of '\(fields.descr)' needs \(needed) data bytes, file has \(available)")
        }

        var values = [Float](repeating: 0, count: elementCount)
        bytes.withUnsafeBytes { raw in
            let data = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            for i in 0..<elementCount {
                let offset = i * fields.elementSize
                if fields.elementSize == 4 {
                    var bits = data.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
                    bits = fields.bigEndian ? UInt32(bigEndian: bits) : UInt32(littleEndian: bits)
                    values[i] = Float(bitPattern: bits)
                } else {
                    var bits = data.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    bits = fields.bigEndian ? UInt64(bigEndian: bits) : UInt64(littleEndian: bits)
                    values[i] = Float(Double(bitPattern: bits))
                }
            }
        }
        if fields.fortranOrder && fields.shape.count > 1 {
            values = fortranToC(values, shape: fields.shape)
        }
        return NumPyArray(shape: fields.shape, values: values)
    }

    // MARK: Header parsing

    struct HeaderFields {
        var descr: String
        var elementSize: Int
        var bigEndian: Bool
        var fortranOrder: Bool
        var shape: [Int]
    }

    /// Reads the three keys NumPy writes. This is not a Python parser: it accepts
    /// what `numpy.save` and compatible writers produce.
    static func parseHeader(_ header: String, float32Only: Bool = false, fail: (String) -> NPYError) throws -> HeaderFields {
        func value(after key: String) throws -> Substring {
            guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\""),
                  let colon = header[keyRange.upperBound...].firstIndex(of: ":")
            else { throw fail("header has no '\(key)': \(header.trimmingWhitespace())") }
            return header[header.index(after: colon)...].drop { $0 == " " }
        }

        let descrText = try value(after: "descr")
        guard let quote = descrText.first, quote == "'" || quote == "\"",
              let end = descrText.dropFirst().firstIndex(of: quote)
        else { throw fail("unreadable 'descr' in header") }
        let descr = String(descrText[descrText.index(after: descrText.startIndex)..<end])
        let elementSize: Int
        let bigEndian: Bool
        switch descr {
        case "<f4": (elementSize, bigEndian) = (4, false)
        case ">f4": (elementSize, bigEndian) = (4, true)
        case "<f8": (elementSize, bigEndian) = (8, false)
        case ">f8": (elementSize, bigEndian) = (8, true)
        default:
            throw fail("dtype '\(descr)' (accepted: float32 '<f4'\(float32Only ? "" : " or float64 '<f8'"))")
        }

        let fortranText = try value(after: "fortran_order")
        let fortranOrder: Bool
        if fortranText.hasPrefix("True") { fortranOrder = true }
        else if fortranText.hasPrefix("False") { fortranOrder = false }
        else { throw fail("unreadable 'fortran_order' in header") }

        let shapeText = try value(after: "shape")
        guard shapeText.first == "(", let close = shapeText.firstIndex(of: ")") else {
            throw fail("unreadable 'shape' in header")
        }
        var shape: [Int] = []
        for part in shapeText[shapeText.index(after: shapeText.startIndex)..<close].split(separator: ",") {
            let trimmed = part.trimmingWhitespace()
            if trimmed.isEmpty { continue }
            guard let dimension = Int(trimmed.hasSuffix("L") ? String(trimmed.dropLast()) : trimmed),
                  dimension >= 0
            else { throw fail("bad dimension '\(trimmed)' in shape") }
            shape.append(dimension)
        }
        return HeaderFields(descr: descr, elementSize: elementSize, bigEndian: bigEndian,
                            fortranOrder: fortranOrder, shape: shape)
    }

    static func fortranToC(_ values: [Float], shape: [Int]) -> [Float] {
        // Fortran order: first index fastest. Walk C order and compute each Fortran offset.
        var result = [Float](repeating: 0, count: values.count)
        var fortranStrides = [Int](repeating: 1, count: shape.count)
        for axis in 1..<shape.count { fortranStrides[axis] = fortranStrides[axis - 1] * shape[axis - 1] }
        var index = [Int](repeating: 0, count: shape.count)
        for cOffset in 0..<values.count {
            var fOffset = 0
            for axis in 0..<shape.count { fOffset += index[axis] * fortranStrides[axis] }
            result[cOffset] = values[fOffset]
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }
}

public enum NPYError: Error, CustomStringConvertible, Equatable {
    case malformed(path: String, reason: String)

    public var description: String {
        switch self {
        case .malformed(let path, let reason): return "'\(path)' is not a usable .npy array: \(reason)"
        }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
