#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Output that appears whole or not at all.
///
/// Every file MelForge writes goes through here: the content is written to a
/// temporary file in the destination's folder (so the final `rename(2)` stays on
/// one file system and is atomic), flushed with `fsync`, then renamed over the
/// destination. A crash or `kill -9` leaves either the old file or the new one
/// under the final name, never a half-written one; at worst a hidden
/// `.NAME.partial-*` file remains, which no reader looks at.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        // One descriptor from creation to fsync: a converter writing thousands of small
        // files pays for one open per file, not three.
        let (temporaryPath, fd) = try createTemporaryFile(for: path)
        do {
            defer { close(fd) }
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer in
                    Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FileOutputError.writeFailed(path: path, reason: errnoText())
                }
                offset += written
            }
            guard fsync(fd) == 0 else { throw FileOutputError.writeFailed(path: path, reason: errnoText()) }
            try publish(temporaryPath, as: path)
        } catch {
            unlink(temporaryPath)
            throw error
        }
    }

    /// Calls `body` with a fresh temporary path beside `path` for it to fill, then
    /// makes the result durable and renames it onto `path`. If `body` throws, the
    /// temporary file is removed and `path` is untouched.
    public static func write(to path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
        let (temporaryPath, fd) = try createTemporaryFile(for: path)
        close(fd)
        do {
            try body(temporaryPath)
            try syncFile(temporaryPath, finalPath: path)
            try publish(temporaryPath, as: path)
        } catch {
            unlink(temporaryPath)
            throw error
        }
    }

    /// The temporary files `write` leaves behind only if the process died mid-write.
    /// A resumed job may delete them.
    public static func isLeftover(fileName: String) -> Bool {
        fileName.hasPrefix(".") && fileName.contains(".partial-")
    }

    // MARK: Implementation

    /// Creates an empty, exclusively owned temporary file beside `path` and returns it open for writing.
    private static func createTemporaryFile(for path: String) throws -> (path: String, fd: Int32) {
        let (folder, name) = splitPath(path)
        guard isDirectory(folder) else {
            throw FileOutputError.missingFolder(path: path, folder: folder)
        }
        // O_EXCL with a random suffix: two writers of the same output never share a temporary file.
        for _ in 0..<16 {
            let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
            let candidate = folder + "/." + name + ".partial-\(getpid())-" + suffix
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 { return (candidate, fd) }
            if errno != EEXIST {
                throw FileOutputError.cannotCreate(path: path, reason: errnoText())
            }
        }
        throw FileOutputError.cannotCreate(path: path, reason: "no free temporary name")
    }

    private static func publish(_ temporaryPath: String, as path: String) throws {
        guard rename(temporaryPath, path) == 0 else {
            throw FileOutputError.writeFailed(path: path, reason: "rename failed: \(errnoText())")
        }
    }

    private static func syncFile(_ temporaryPath: String, finalPath: String) throws {
        let fd = open(temporaryPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileOutputError.writeFailed(path: finalPath, reason: errnoText()) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileOutputError.writeFailed(path: finalPath, reason: errnoText()) }
    }

    private static func splitPath(_ path: String) -> (folder: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }
}

/// Why an output file could not be written. The destination is never left half-written.
public enum FileOutputError: Error, CustomStringConvertible, Equatable {
    case missingFolder(path: String, folder: String)
    case cannotCreate(path: String, reason: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingFolder(let path, let folder):
            return "cannot write '\(path)': folder '\(folder)' does not exist"
        case .cannotCreate(let path, let reason):
            return "cannot create '\(path)': \(reason)"
        case .writeFailed(let path, let reason):
            return "writing '\(path)' failed: \(reason)"
        }
    }
}

/// `strerror(errno)` as a Swift string.
public func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

/// Whether `path` names an existing directory (following symbolic links).
public func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}
