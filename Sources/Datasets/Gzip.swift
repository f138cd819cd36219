import CZlib
import FileFormats

/// The content of a file, decompressed if it is gzip (by its magic bytes, not its name).
/// `limit` bounds the decompressed size, so a corrupt or hostile file cannot exhaust memory.
func readPossiblyGzipped(_ path: String, limit: Int = 1 << 31) throws -> [UInt8] {
    let bytes = try readFileBytes(path)
    guard bytes.count >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B else { return bytes }
    var stream = z_stream()
    // 15 + 16: a zlib window of 2^15 with a gzip header.
    guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw DatasetError.unreadable(path: path, reason: "zlib could not start")
    }
    defer { inflateEnd(&stream) }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    var status: Int32 = Z_OK
    try bytes.withUnsafeBytes { input in
        stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
        stream.avail_in = uInt(input.count)
        while status != Z_STREAM_END {
            let produced: Int = chunk.withUnsafeMutableBytes { out in
                stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(out.count)
                status = inflate(&stream, Z_NO_FLUSH)
                return out.count - Int(stream.avail_out)
            }
            guard status == Z_OK || status == Z_STREAM_END else {
                throw DatasetError.unreadable(path: path, reason: "corrupt gzip data (zlib status \(status))")
            }
            output += chunk[0..<produced]
            guard output.count <= limit else {
                throw DatasetError.unreadable(path: path, reason: "decompresses to more than \(limit) bytes")
            }
            if produced == 0 && stream.avail_in == 0 && status != Z_STREAM_END {
                throw DatasetError.unreadable(path: path, reason: "gzip data ends early")
            }
        }
    }
    return output
}
