#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an input file could not be opened. Inputs are only ever read.
public enum FileInputError: Error, CustomStringConvertible, Equatable {
    case missing(path: String)
    case isDirectory(path: String)
    case unreadable(path: String, reason: String)
    case tooLarge(path: String, bytes: Int, limit: Int)

    public var description: String {
        switch self {
        case .missing(let path): return "'\(path)' does not exist"
        case .isDirectory(let path): return "'\(path)' is a folder, not a file"
        case .unreadable(let path, let reason): return "cannot read '\(path)': \(reason)"
        case .tooLarge(let path, let bytes, let limit):
            return "'\(path)' is \(bytes) bytes, more than the \(limit) bytes this reader accepts"
        }
    }
}

/// Checks that `path` is an existing regular (or special, non-directory) file and
/// returns its size in bytes, with an error that names the path otherwise.
public func checkInputFile(_ path: String) throws -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else {
        if errno == ENOENT || errno == ENOTDIR { throw FileInputError.missing(path: path) }
        throw FileInputError.unreadable(path: path, reason: errnoText())
    }
    if (info.st_mode & S_IFMT) == S_IFDIR { throw FileInputError.isDirectory(path: path) }
    return Int(info.st_size)
}

/// The whole content of a file; for the small files (arrays, pictures,
/// checkpoints' headers) that are read at once. `limit` guards against
/// allocating for a file that is not what it claims to be.
public func readFileBytes(_ path: String, limit: Int = 1 << 34) throws -> [UInt8] {
    let size = try checkInputFile(path)
    guard size <= limit else { throw FileInputError.tooLarge(path: path, bytes: size, limit: limit) }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileInputError.unreadable(path: path, reason: errnoText()) }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: size)
    var offset = 0
    while offset < size {
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + offset, size - offset) }
        if count < 0 {
            if errno == EINTR { continue }
            throw FileInputError.unreadable(path: path, reason: errnoText())
        }
        if count == 0 { break }
        offset += count
    }
    return offset == size ? bytes : Array(bytes[0..<offset])
}
