import CMPIBridge
import Foundation
import Layers

/// The processes of a job that `mpirun` (or Slurm's `srun`) started, through Open MPI: the
/// data-parallel training's sums (`ReplicaReducer`), and the job's end.
///
/// Only training joins a job (`MPIWorld.joinIfLaunched`); a process that was not started by
/// a launcher never calls MPI.
public final class MPIWorld: ReplicaReducer, @unchecked Sendable {
    public let rank: Int
    public let count: Int

    /// The job this process belongs to, once joined.
    nonisolated(unsafe) public private(set) static var current: MPIWorld?

    private init(rank: Int, count: Int) {
        self.rank = rank
        self.count = count
    }

    /// The environment variables by which launchers tell a process it is one of a job:
    /// Open MPI's mpirun, PMIx (srun --mpi=pmix), PMI-2 (srun --mpi=pmi2).
    static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"]

    /// Whether a launcher started this process.
    public static func launched(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        launcherVariables.contains { environment[$0] != nil }
    }

    /// Joins the job when a launcher started this process (MPI_Init) and, when the job has
    /// more than one process, makes it the replicas' reducer; nil otherwise, and nothing
    /// MPI-specific runs.
    public static func joinIfLaunched() throws -> MPIWorld? {
        if let current { return current }
        guard launched() else { return nil }
        guard mf_mpi_init() == 0 else { throw ClusterError.cannotJoin }
        let world = MPIWorld(rank: Int(mf_mpi_rank()), count: Int(mf_mpi_size()))
        current = world
        if world.count > 1 { Replicas.reducer = world }
        return world
    }

    public func sum(_ values: inout [Float]) {
        let failed = values.withUnsafeMutableBufferPointer { mf_mpi_allreduce_sum_float($0.baseAddress, $0.count) }
        if failed != 0 { abort("an allreduce of \(values.count) floats failed") }
    }

    public func sum(_ values: inout [Double]) {
        let failed = values.withUnsafeMutableBufferPointer { mf_mpi_allreduce_sum_double($0.baseAddress, $0.count) }
        if failed != 0 { abort("an allreduce of \(values.count) doubles failed") }
    }

    /// Waits until every process gets here.
    public func barrier() { _ = mf_mpi_barrier() }

    /// Ends the whole job, every process, non-zero, after saying why on standard error with
    /// this process's rank.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("melforge: rank \(rank) of \(count): \(message)\n".utf8))
        mf_mpi_abort(code)
        exit(code)
    }

    /// Leaves the job in order (every process calls it at the end).
    public func finish() { _ = mf_mpi_finalize() }

    /// Open MPI's own description of itself.
    public static var libraryVersion: String {
        var text = [CChar](repeating: 0, count: 512)
        mf_mpi_library_version(&text, Int32(text.count))
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

public enum ClusterError: Error, CustomStringConvertible {
    case cannotJoin

    public var description: String {
        "this process was started by an MPI launcher (\(MPIWorld.launcherVariables.joined(separator: ", ")) is set) but MPI_Init failed; run melforge without mpirun, or check the Open MPI installation (melforge doctor)"
    }
}
