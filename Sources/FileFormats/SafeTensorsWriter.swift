import Foundation

/// A safetensors file written one tensor at a time, each tensor's bytes going to the disk as
/// it comes: for files that should not sit whole in memory first (`convert`'s shards), and so
/// that writing overlaps the work that produces the tensors.
///
/// The format puts the header first, but the header is known only at the end. So the data
/// starts after a reserved space, and `commit` writes the header into it padded with spaces,
/// which the format allows (its own writer pads the header to align the data; Python's
/// `safetensors` reads such files). A tensor whose header entry would no longer fit is refused
/// (`append` returns false): it belongs in the next file. Nothing is under `path` until
/// `commit` (the file is an `AtomicFileWriter`'s). Tensors are listed in the header by name,
/// as `SafeTensors.encode` lists them; their data is in the order they were appended.
public final class SafeTensorsWriter {
    public var path: String { file.path }
    /// Header bytes (a multiple of 8, so the data is aligned); the data starts at 8 + this.
    public let reservedHeaderBytes: Int
    /// Bytes of tensor data appended so far.
    public private(set) var dataBytes = 0
    public var count: Int { entries.count }

    private let file: AtomicFileWriter
    /// Each tensor's header entry, `"name":{...}`, by name.
    private var entries: [String: [UInt8]] = [:]
    /// The header's length so far: braces, entries and the commas between them.
    private var headerLength: Int
    private let metadataEntry: [UInt8]?
    /// Data bytes since the kernel was last asked to start writing them out.
    private var unflushed = 0
    private static let writebackBlock = 8 << 20

    public init(path: String, reservedHeaderBytes: Int, metadata: [String: String] = [:]) throws {
        self.reservedHeaderBytes = (max(reservedHeaderBytes, 2) + 7) / 8 * 8
        metadataEntry = metadata.isEmpty ? nil : try Self.entry("__metadata__", metadata)
        headerLength = 2 + (metadataEntry?.count ?? 0)
        guard headerLength <= self.reservedHeaderBytes else {
            throw SafeTensorsError.invalidArgument("the metadata alone (\(headerLength) bytes) exceeds the \(self.reservedHeaderBytes) header bytes reserved")
        }
        file = try AtomicFileWriter(path: path)
    }

    /// The bytes a tensor's header entry takes (for sizing the reserved space): exact for
    /// data offsets of as many digits as `dataEnd` has.
    public static func entryLength(name: String, shape: [Int], dataEnd: Int = 0) -> Int {
        ((try? entry(name, ["dtype": "F32", "shape": shape, "data_offsets": [dataEnd, dataEnd]] as [String: Any]))?.count ?? 0) + 1
    }

    /// Writes one F32 tensor, or returns false (writing nothing) when its header entry would
    /// overflow the reserved space. Throws on a reserved or repeated name and when the
    /// write fails.
    public func append(name: String, shape: [Int], values: [Float]) throws -> Bool {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                     "SafeTensorsWriter \(name): \(values.count) values do not fill shape \(shape)")
        guard name != "__metadata__" else {
            throw SafeTensorsError.invalidArgument("'__metadata__' is reserved and cannot name a tensor")
        }
        guard entries[name] == nil else { throw SafeTensorsError.invalidArgument("tensor name '\(name)' appears twice") }
        let end = dataBytes + 4 * values.count
        let entry = try Self.entry(name, ["dtype": "F32", "shape": shape, "data_offsets": [dataBytes, end]] as [String: Any])
        let comma = headerLength > 2 ? 1 : 0
        guard headerLength + comma + entry.count <= reservedHeaderBytes else { return false }

        let offset = 8 + reservedHeaderBytes + dataBytes
        #if _endian(little)
        try values.withUnsafeBytes { try file.write($0, at: offset) }
        #else
        try values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { try file.write($0, at: offset) }
        #endif
        entries[name] = entry
        headerLength += comma + entry.count
        dataBytes = end
        unflushed += 4 * values.count
        if unflushed >= Self.writebackBlock {
            file.startWriteback(upTo: offset + 4 * values.count)
            unflushed = 0
        }
        return true
    }

    /// Writes the header, makes the file durable and gives it its name, `path`.
    public func commit() throws {
        var header: [UInt8] = [UInt8(ascii: "{")]
        header.reserveCapacity(reservedHeaderBytes)
        let parts = (metadataEntry.map { [$0] } ?? []) + entries.keys.sorted().map { entries[$0]! }
        for (index, part) in parts.enumerated() {
            if index > 0 { header.append(UInt8(ascii: ",")) }
            header += part
        }
        header.append(UInt8(ascii: "}"))
        precondition(header.count == headerLength)
        header += [UInt8](repeating: 0x20, count: reservedHeaderBytes - header.count)
        let bytes = withUnsafeBytes(of: UInt64(reservedHeaderBytes).littleEndian, Array.init) + header
        try bytes.withUnsafeBytes { try file.write($0, at: 0) }
        try file.commit()
    }

    /// Removes what was written; `path` is untouched.
    public func discard() { file.discard() }

    /// `"key":value` as JSON text (the object's braces stripped).
    private static func entry(_ key: String, _ value: Any) throws -> [UInt8] {
        let object = try CompactJSON.encode([key: value]).map { Array($0.utf8) }
            ?? Array(JSONSerialization.data(withJSONObject: [key: value], options: [.sortedKeys]))
        return Array(object.dropFirst().dropLast())
    }
}
