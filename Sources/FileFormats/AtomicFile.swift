#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CFileSystem

/// Output that appears whole or not at all.
///
/// Every file MelForge writes goes through here: the content is written to a new file
/// in the destination's folder (unnamed where Linux allows, `AtomicFileWriter`; else a
/// hidden temporary name, so that the final `rename(2)` stays on one file system and is
/// atomic), flushed with `fsync`, then given the destination's name. A crash or
/// `kill -9` leaves either the old file or the new one under the final name, never a
/// half-written one; at worst (a named temporary file) a hidden `.NAME.partial-*` file
/// remains, which no reader looks at and a resumed job removes.
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

    /// Whether unnamed files can be given names here (through /proc/self/fd).
    static let unnamedFilesWork = access("/proc/self/fd", X_OK) == 0

    /// A fresh hidden name beside `path` (O_EXCL or link use makes it exclusively ours).
    private static func temporaryName(for path: String) -> String {
        let (folder, name) = splitPath(path)
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        return folder + "/." + name + ".partial-\(getpid())-" + suffix
    }

    /// Creates an empty, exclusively owned temporary file beside `path` and returns it open for writing.
    static func createTemporaryFile(for path: String) throws -> (path: String, fd: Int32) {
        let folder = splitPath(path).folder
        guard isDirectory(folder) else {
            throw FileOutputError.missingFolder(path: path, folder: folder)
        }
        // O_EXCL with a random suffix: two writers of the same output never share a temporary file.
        for _ in 0..<16 {
            let candidate = temporaryName(for: path)
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 { return (candidate, fd) }
            if errno != EEXIST {
                throw FileOutputError.cannotCreate(path: path, reason: errnoText())
            }
        }
        throw FileOutputError.cannotCreate(path: path, reason: "no free temporary name")
    }

    /// Gives the unnamed file `fd` a temporary name beside `path` and returns it.
    static func linkTemporaryName(_ fd: Int32, for path: String) throws -> String {
        for _ in 0..<16 {
            let candidate = temporaryName(for: path)
            if mf_link_unnamed(fd, candidate) == 0 { return candidate }
            if errno != EEXIST { throw FileOutputError.writeFailed(path: path, reason: errnoText()) }
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

    static func splitPath(_ path: String) -> (folder: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }
}

/// A file written piece by piece (at any offsets) that appears under its final name whole or
/// not at all, as `AtomicFile.write` does for a file written in one go. Until `commit` the
/// file has no name (Linux's O_TMPFILE: if the process dies, the file system frees it and
/// nothing is left behind), or, where the file system cannot do that, a temporary name
/// beside the destination. `commit` makes it durable and names it `path` (a link, or a
/// rename where `path` exists already); `discard`, a thrown error or the writer going away
/// without a commit removes it.
public final class AtomicFileWriter {
    public let path: String
    /// The file's temporary name; nil while it has none.
    private var temporaryPath: String?
    private var fd: Int32
    /// Bytes up to here have been handed to the kernel's writeback (`startWriteback`).
    private var writebackStart = 0

    public convenience init(path: String) throws {
        try self.init(path: path, unnamed: AtomicFile.unnamedFilesWork)
    }

    /// `unnamed` false: a named temporary file from the start (what file systems without
    /// O_TMPFILE get; tests choose it to cover that path here).
    init(path: String, unnamed allowed: Bool) throws {
        self.path = path
        let unnamed = allowed ? mf_open_unnamed(AtomicFile.splitPath(path).folder, 0o644) : -1
        if unnamed >= 0 {
            fd = unnamed
        } else {
            // Also what names a missing folder in the error.
            let (temporary, descriptor) = try AtomicFile.createTemporaryFile(for: path)
            (temporaryPath, fd) = (temporary, descriptor)
        }
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

    /// Flushes the file to the disk and gives it its name. On failure the file is removed
    /// and `path` is untouched.
    public func commit() throws {
        precondition(fd >= 0, "AtomicFileWriter: commit after commit or discard")
        do {
            guard fsync(fd) == 0 else { throw FileOutputError.writeFailed(path: path, reason: errnoText()) }
            if temporaryPath == nil {
                if mf_link_unnamed(fd, path) == 0 {
                    close(fd)
                    fd = -1
                    return
                }
                guard errno == EEXIST else {
                    throw FileOutputError.writeFailed(path: path, reason: "naming the new file failed: \(errnoText())")
                }
                // `path` exists: a link cannot replace it, a rename can (atomically).
                temporaryPath = try AtomicFile.linkTemporaryName(fd, for: path)
            }
            close(fd)
            fd = -1
            try AtomicFile.publish(temporaryPath!, as: path)
        } catch {
            if fd >= 0 { close(fd) }
            fd = -1
            if let temporaryPath { unlink(temporaryPath) }
            throw error
        }
    }

    /// Removes the file; `path` is untouched. Does nothing after `commit`.
    public func discard() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        if let temporaryPath { unlink(temporaryPath) }
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
