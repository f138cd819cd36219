import Foundation

/// Writes finished files (atomically, `AtomicFile.write`) on threads of their own, so that the
/// workers go on computing while the disk makes earlier files durable. A small file's `fsync`
/// waits for the device: when each of `melforge convert`'s two workers waited for its own,
/// the cores sat idle about a third of the time (measured: BENCHMARKS.md).
///
/// Memory stays bounded: `submit` waits while more than `byteCapacity` bytes or
/// `fileCapacity` files are queued or being written (one file is always let through, however
/// large). Call `finish` once at the end: the threads run (and keep the pool) until then.
public final class FileWriterPool: @unchecked Sendable {
    public typealias Completion = @Sendable (Error?) -> Void

    private let condition = NSCondition()
    private var queue: [(bytes: [UInt8], path: String, done: Completion)] = []
    /// Bytes queued or being written, under `condition`.
    private var pendingBytes = 0
    private var pendingFiles = 0
    private var closing = false
    private let byteCapacity: Int
    private let fileCapacity: Int

    public init(threads: Int, byteCapacity: Int = 64 << 20, fileCapacity: Int = 256) {
        self.byteCapacity = byteCapacity
        self.fileCapacity = fileCapacity
        for _ in 0..<max(1, threads) { Thread { [self] in work() }.start() }
    }

    /// Queues `bytes` for `path`; `done` is called on a writer thread once the file is on disk
    /// (nil) or failed (the error; nothing is left under `path`).
    public func submit(_ bytes: [UInt8], to path: String, then done: @escaping Completion) {
        condition.lock()
        defer { condition.unlock() }
        precondition(!closing, "FileWriterPool: submit after finish")
        while pendingFiles > 0 && (pendingBytes + bytes.count > byteCapacity || pendingFiles >= fileCapacity) {
            condition.wait()
        }
        queue.append((bytes, path, done))
        pendingBytes += bytes.count
        pendingFiles += 1
        condition.broadcast()
    }

    /// Waits until every queued file is written, then lets the threads end.
    public func finish() {
        condition.lock()
        defer { condition.unlock() }
        closing = true
        condition.broadcast()
        while pendingFiles > 0 { condition.wait() }
    }

    private func work() {
        while true {
            condition.lock()
            while queue.isEmpty && !closing { condition.wait() }
            guard !queue.isEmpty else {
                condition.unlock()
                return
            }
            let job = queue.removeFirst()
            condition.unlock()

            var failure: Error?
            do { try AtomicFile.write(job.bytes, to: job.path) } catch { failure = error }
            job.done(failure)

            condition.lock()
            pendingBytes -= job.bytes.count
            pendingFiles -= 1
            condition.broadcast()
            condition.unlock()
        }
    }
}
