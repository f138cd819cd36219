#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// One writer per output: a job that writes into a folder (a training run, a conversion) or
/// a file (a classifier, a steering policy) holds an advisory lock (`flock(2)`) on a hidden
/// lock file there for as long as the process lives, and a second job on the same output is
/// refused with the first one's process id and command. The kernel releases the lock when its
/// holder ends in any way, `kill -9` included, so a killed run never blocks its resume; the
/// lock file itself stays (empty of meaning without its lock).
public enum OutputLock {
    /// Locks `lockFile` (created if missing, in an existing folder) for the rest of the
    /// process, recording `command` in it; throws `OutputInUse` if another process holds it.
    /// Taking a lock this process already holds does nothing.
    public static func hold(_ lockFile: String, for output: String, command: String) throws {
        let path = URL(fileURLWithPath: lockFile).standardizedFileURL.path
        if held.withLock({ $0.contains(path) }) { return }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FileOutputError.cannotCreate(path: path, reason: errnoText() + " (the lock that keeps two jobs from writing the same output)")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var holder = [UInt8](repeating: 0, count: 512)
            let count = read(fd, &holder, holder.count)
            close(fd)
            guard code == EWOULDBLOCK else {
                throw FileOutputError.cannotCreate(path: path, reason: "cannot lock it: " + errnoText(code))
            }
            let who = String(decoding: holder.prefix(max(0, count)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw OutputInUse(output: output, holder: who.isEmpty ? "another process" : who, lockFile: path)
        }
        let text = "pid \(getpid()): \(command), since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        _ = held.withLock { $0.insert(path) }  // the descriptor stays open: the lock lives with the process
    }

    /// This process's command line, for the lock file ("melforge train gan --out runs/a").
    public static var thisCommand: String {
        let text = (["melforge"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        return text.count > 300 ? String(text.prefix(300)) + "..." : text
    }

    /// The lock file for an output folder (one per share of a job split across machines).
    public static func file(inFolder folder: String, name: String = "melforge") -> String {
        folder + "/.\(name).lock"
    }

    /// The lock file for an output file: beside it.
    public static func file(beside path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".lock"
    }

    private static let held = Mutex<Set<String>>([])
}

/// Another process holds the output's lock.
public struct OutputInUse: Error, CustomStringConvertible {
    public let output: String
    /// "pid 1234: train gan --out runs/a, since 2026-12-06T01:02:03Z".
    public let holder: String
    public let lockFile: String

    public var description: String {
        "'\(output)' is being written by another melforge (\(holder)); wait for it to finish or stop it, or choose another output (the lock is on '\(lockFile)' and ends with its process)"
    }
}
