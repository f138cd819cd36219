import Foundation

/// A named float tensor: `shape` outermost first, `values` in C (row-major) order.
public struct NamedTensor: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]

    public init(name: String, shape: [Int], values: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                     "NamedTensor \(name): \(values.count) values do not fill shape \(shape)")
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// The safetensors format (Hugging Face's), as checkpoints are written:
///
///     8 bytes        N, the header's length, little-endian unsigned
///     N bytes        JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
///                           ..., "__metadata__": {"key": "value", ...}}
///     the rest       every tensor's little-endian bytes, at its offsets from here
///
/// Written: F32 tensors sorted by name, the header padded with spaces to a multiple of 8
/// bytes (so the data is aligned), string metadata. Read: F32, F64, F16 and BF16 (converted
/// to Float). A file is refused, never trusted, when its header lies: every length is
/// checked against the file's size before anything is allocated, offsets must tile the
/// data exactly (no gap, no overlap, nothing past the end), and each tensor's byte count
/// must match its shape, as the reference implementation requires.
public struct SafeTensors: Equatable, Sendable {
    public var tensors: [NamedTensor]
    /// `__metadata__`: string keys and string values only, as the format allows.
    public var metadata: [String: String]

    public init(tensors: [NamedTensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    public subscript(name: String) -> NamedTensor? { tensors.first { $0.name == name } }

    /// Headers larger than this are refused (the format's own reference uses 100 MB).
    public static let headerLimit = 100_000_000

    // MARK: Writing

    public func encode() throws -> [UInt8] {
        let sorted = tensors.sorted { $0.name < $1.name }
        if let duplicate = zip(sorted, sorted.dropFirst()).first(where: { $0.name == $1.name }) {
            throw SafeTensorsError.invalidArgument("tensor name '\(duplicate.0.name)' appears twice")
        }
        if sorted.contains(where: { $0.name == "__metadata__" }) {
            throw SafeTensorsError.invalidArgument("'__metadata__' is reserved and cannot name a tensor")
        }
        var header: [String: Any] = [:]
        var offset = 0
        for tensor in sorted {
            let end = offset + 4 * tensor.values.count
            header[tensor.name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, end]] as [String: Any]
            offset = end
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)

        var bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json
        bytes.reserveCapacity(bytes.count + offset)
        for tensor in sorted { bytes.appendLittleEndian(tensor.values) }
        return bytes
    }

    /// Writes atomically (a temporary file beside `path`, then a rename).
    public func write(to path: String) throws {
        try AtomicFile.write(try encode(), to: path)
    }

    // MARK: Reading

    public static func read(_ path: String) throws -> SafeTensors {
        try decode(try readFileBytes(path), path: path)
    }

    /// Parses a safetensors file's bytes; `path` only names the source in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> SafeTensors {
        func fail(_ reason: String) -> SafeTensorsError { .malformed(path: path, reason: reason) }

        guard bytes.count >= 8 else { throw fail("\(bytes.count) bytes is too short for the 8-byte header length") }
        let declared = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard declared <= UInt64(min(headerLimit, bytes.count - 8)) else {
            throw fail("the header claims \(declared) bytes but the file holds \(bytes.count - 8) after the length")
        }
        let headerLength = Int(declared)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[8..<8 + headerLength])),
              let header = object as? [String: Any]
        else { throw fail("the header is not a JSON object") }

        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let strings = raw as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
            metadata = strings
        }

        let dataStart = 8 + headerLength
        let dataLength = bytes.count - dataStart
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, raw) in header where name != "__metadata__" {
            guard let entry = raw as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shapeNumbers = entry["shape"] as? [NSNumber],
                  let offsets = entry["data_offsets"] as? [NSNumber], offsets.count == 2
            else { throw fail("tensor '\(name)' lacks dtype, shape or data_offsets") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw fail("tensor '\(name)' has dtype \(dtypeName) (readable: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let shape = shapeNumbers.map(\.intValue)
            guard shape.allSatisfy({ $0 >= 0 }), shapeNumbers.allSatisfy({ $0.doubleValue == Double($0.intValue) }) else {
                throw fail("tensor '\(name)' has shape \(shapeNumbers)")
            }
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow, product <= dataLength else {
                    throw fail("tensor '\(name)' of shape \(shape) is larger than the file's \(dataLength) data bytes")
                }
                count = product
            }
            let (begin, end) = (offsets[0].intValue, offsets[1].intValue)
            guard 0 <= begin, begin <= end, end <= dataLength else {
                throw fail("tensor '\(name)' has data_offsets [\(begin), \(end)] outside the \(dataLength) data bytes")
            }
            guard end - begin == count * dtype.size else {
                throw fail("tensor '\(name)' of shape \(shape) and dtype \(dtypeName) needs \(count * dtype.size) bytes, its offsets span \(end - begin)")
            }
            entries.append((name, dtype, shape, begin, end))
        }

        // The offsets must tile the data: sorted by start, each begins where the last ended.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        for entry in entries {
            guard entry.begin == covered else {
                throw fail(entry.begin < covered
                    ? "tensor '\(entry.name)' overlaps the tensor before it"
                    : "there is a gap before tensor '\(entry.name)' (bytes \(covered)..<\(entry.begin))")
            }
            covered = entry.end
        }
        guard covered == dataLength else {
            throw fail("the tensors cover \(covered) of the \(dataLength) data bytes")
        }

        var tensors: [NamedTensor] = []
        bytes.withUnsafeBytes { raw in
            for entry in entries {
                let data = UnsafeRawBufferPointer(rebasing: raw[(dataStart + entry.begin)..<(dataStart + entry.end)])
                tensors.append(NamedTensor(name: entry.name, shape: entry.shape, values: entry.dtype.floats(data)))
            }
        }
        tensors.sort { $0.name < $1.name }
        return SafeTensors(tensors: tensors, metadata: metadata)
    }

    enum DType: String, CaseIterable {
        case F32, F64, F16, BF16

        var size: Int {
            switch self {
            case .F32: return 4
            case .F64: return 8
            case .F16, .BF16: return 2
            }
        }

        func floats(_ data: UnsafeRawBufferPointer) -> [Float] {
            let count = data.count / size
            return (0..<count).map { i in
                switch self {
                case .F32:
                    return Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                case .F64:
                    return Float(Double(bitPattern: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                case .F16:
                    return Float(Float16(bitPattern: UInt16(littleEndian: data.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                case .BF16:
                    // bfloat16 is the top half of a float32.
                    let bits = UInt16(littleEndian: data.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    return Float(bitPattern: UInt32(bits) << 16)
                }
            }
        }
    }
}

public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    case malformed(path: String, reason: String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .malformed(let path, let reason): return "'\(path)' is not a usable safetensors file: \(reason)"
        case .invalidArgument(let reason): return "cannot write safetensors: \(reason)"
        }
    }
}
