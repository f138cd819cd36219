#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CFileSystem

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
        let file = try AtomicFileWriter(path: path)
        try bytes.withUnsafeBytes { try file.write($0, at: 0) }
        try file.commit()
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
        destination(ofLeftover: fileName) != nil
    }

    /// The name a leftover temporary file was being written for (".a.npy.partial-12-x1" ->
    /// "a.npy"), or nil if `fileName` is no such file: so that a job removes only its own.
    public static func destination(ofLeftover fileName: String) -> String? {
        guard fileName.hasPrefix("."), let marker = fileName.range(of: ".partial-", options: .backwards),
              marker.lowerBound > fileName.index(after: fileName.startIndex)
        else { return nil }
        return String(fileName[fileName.index(after: fileName.startIndex)..<marker.lowerBound])
    }

    // MARK: Implementation

    /// Creates an empty, exclusively owned temporary file beside `path` and returns it open for writing.
    static func createTemporaryFile(for path: String) throws -> (path: String, fd: Int32) {
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

    static func publish(_ temporaryPath: String, as path: String) throws {
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

/// A file written piece by piece (at any offsets) that appears under its final name whole or
/// not at all, as `AtomicFile.write` does for a file written in one go: the pieces go to a
/// temporary file beside the destination; `commit` makes it durable and renames it. Until
/// then nothing is under `path`; `discard`, a thrown error or the writer going away without
/// a commit removes the temporary file.
public final class AtomicFileWriter {
    public let path: String
    private let temporaryPath: String
    private var fd: Int32
    /// Bytes up to here have been handed to the kernel's writeback (`startWriteback`).
    private var writebackStart = 0

    public init(path: String) throws {
        self.path = path
        (temporaryPath, fd) = try AtomicFile.createTemporaryFile(for: path)
    }

    deinit { discard() }

    /// Writes `bytes` at `offset` (the file grows as needed).
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        precondition(fd >= 0, "AtomicFileWriter: write after commit or discard")
        var done = 0
        while done < bytes.count {
            let written = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if written < 0 {
                if errno == EINTR { continue }
                throw FileOutputError.writeFailed(path: path, reason: errnoText())
            }
            done += written
        }
    }

    /// Lets the kernel start writing bytes [previous call's end, `end`) to the disk now,
    /// without waiting: a large file then reaches the disk while its writer works on, and
    /// `commit` waits only for the rest. Durability still comes from `commit` alone.
    public func startWriteback(upTo end: Int) {
        guard fd >= 0, end > writebackStart else { return }
        _ = mf_start_writeback(fd, Int64(writebackStart), Int64(end - writebackStart))
        writebackStart = end
    }

    /// Flushes the file to the disk and renames it onto `path`. On failure the temporary
    /// file is removed and `path` is untouched.
    public func commit() throws {
        precondition(fd >= 0, "AtomicFileWriter: commit after commit or discard")
        let failure = fsync(fd) == 0 ? nil : errnoText()
        close(fd)
        fd = -1
        do {
            if let failure { throw FileOutputError.writeFailed(path: path, reason: failure) }
            try AtomicFile.publish(temporaryPath, as: path)
        } catch {
            unlink(temporaryPath)
            throw error
        }
    }

    /// Removes the temporary file; `path` is untouched. Does nothing after `commit`.
    public func discard() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(temporaryPath)
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
