import Synchronization
import Dispatch
import Foundation

/// The one thread-count setting of the whole process: the layers' workers (one per core,
/// each running single-threaded matrix products on its share of a batch, so that the work
/// between products runs in parallel too and the cores are never oversubscribed), the
/// optimizer, the front end, the vocoders, batch conversion and the rewards all take
/// `Workers.count` threads. It starts as `MELFORGE_THREADS` when set, else the cores
/// available shared among the processes an MPI launcher started on this machine;
/// `melforge convert --jobs N` sets it.
public enum Workers {
    /// Threads for parallel work, at least 1. Set before work starts to use fewer.
    nonisolated(unsafe) public static var count = defaultCount(environment: ProcessInfo.processInfo.environment)

    /// `MELFORGE_THREADS` when it is a whole number of at least 1, else the cores available
    /// divided among the processes of a job on this machine (Open MPI's
    /// OMPI_COMM_WORLD_LOCAL_SIZE, or MPI_LOCALNRANKS), at least 1.
    public static func defaultCount(environment: [String: String]) -> Int {
        if let text = environment["MELFORGE_THREADS"], let threads = Int(text), threads >= 1 { return threads }
        let local = (environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? environment["MPI_LOCALNRANKS"]).flatMap(Int.init) ?? 1
        return max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, local))
    }

    /// The number of shares `run(over:)` cuts `total` into.
    public static func shares(of total: Int) -> Int { max(1, min(count, total)) }

    /// Runs `body(share, range)` for each of `shares(of: total)` contiguous shares of
    /// `0..<total` in parallel; share i is [total * i / shares, total * (i + 1) / shares).
    @inlinable
    public static func run(over total: Int, _ body: (Int, Range<Int>) -> Void) {
        let parts = shares(of: total)
        if parts == 1 {
            body(0, 0..<total)
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: parts) { i in
                shared.value(i, (total * i / parts)..<(total * (i + 1) / parts))
            }
        }
    }
}

/// Wraps a value a concurrentPerform body uses from several threads on disjoint data.
@usableFromInline
struct UncheckedSendable<Value>: @unchecked Sendable {
    @usableFromInline let value: Value
    @usableFromInline init(_ value: Value) { self.value = value }
}

extension Workers {
    /// Element counts below this run on the calling thread (dispatching costs more).
    public static let elementwiseThreshold = 1 << 15

    /// `f` applied to every value, shared among the workers for large arrays. Inlinable, so
    /// that each caller's `f` is specialised into the loop (a closure call per element was
    /// 10% of a bf16 training step).
    @inlinable
    public static func map(_ x: [Float], _ f: (Float) -> Float) -> [Float] {
        guard x.count >= elementwiseThreshold else { return x.map(f) }
        return [Float](unsafeUninitializedCapacity: x.count) { output, initialized in
            let out = output.baseAddress!
            x.withUnsafeBufferPointer { input in
                let source = input.baseAddress!
                run(over: x.count) { _, share in
                    for i in share { out[i] = f(source[i]) }
                }
            }
            initialized = x.count
        }
    }

    /// `f` applied to every pair of values, shared among the workers for large arrays.
    @inlinable
    public static func map(_ a: [Float], _ b: [Float], _ f: (Float, Float) -> Float) -> [Float] {
        precondition(a.count == b.count)
        guard a.count >= elementwiseThreshold else { return zip(a, b).map(f) }
        return [Float](unsafeUninitializedCapacity: a.count) { output, initialized in
            let out = output.baseAddress!
            a.withUnsafeBufferPointer { first in
                b.withUnsafeBufferPointer { second in
                    let (x, y) = (first.baseAddress!, second.baseAddress!)
                    run(over: a.count) { _, share in
                        for i in share { out[i] = f(x[i], y[i]) }
                    }
                }
            }
            initialized = a.count
        }
    }
}

extension Workers {
    /// `body(i)` for every i in 0..<count on up to `threads` threads, each taking the next index
    /// as it finishes one (for tasks of uneven cost: clips of different lengths); the results
    /// in index order. The first error thrown (by index) is rethrown once all tasks are done.
    public static func each<T: Sendable>(_ count: Int, threads: Int = Workers.count, _ body: @Sendable (Int) throws -> T) throws -> [T] {
        let results = Mutex([Result<T, Error>?](repeating: nil, count: count))
        let next = Mutex(0)
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: max(1, min(threads, count))) { _ in
                while true {
                    let index = next.withLock { value -> Int in defer { value += 1 }; return value }
                    guard index < count else { return }
                    let result = Result { try shared.value(index) }
                    results.withLock { $0[index] = result }
                }
            }
        }
        return try results.withLock { $0 }.map { try $0!.get() }
    }
}
