import CSignals
import Foundation
import Layers

/// SIGTERM and SIGINT (what Slurm and Kubernetes send before they preempt a job, and Ctrl-C)
/// stop a long job at its next safe point instead of losing its work: a training run writes a
/// checkpoint at the step it is at and ends with `Preempted`, which says how to resume; a
/// conversion finishes the file in hand. A second signal ends the process at once.
public enum Preemption {
    /// Catches the signals from now on (a long job's commands call this before they start).
    public static func catchSignals() { mf_catch_stop_signals() }

    /// Back to the signals' default actions.
    public static func release() { mf_release_stop_signals() }

    /// The signal that asked this process to stop, if any.
    public static var requested: Int32? {
        let signal = mf_stop_signal()
        return signal == 0 ? nil : signal
    }

    /// The signal that asked any process of a data-parallel job to stop (all of them stop at
    /// the same step: a process that stopped alone would leave the others waiting in a sum),
    /// or this process's in a job of one. Every process must call it at the same points.
    public static func agreed() -> Int32? {
        guard Replicas.reducer != nil else { return requested }
        let signal = Replicas.sum([Double(requested ?? 0), requested == nil ? 0 : 1])
        guard signal[1] > 0 else { return nil }
        return requested ?? Int32(signal[0] / signal[1])
    }

    /// Sends `signal` to this process, as a scheduler would (for the tests).
    public static func send(_ signal: Int32) { _ = mf_send_signal_to_self(signal) }

    /// "SIGTERM", "SIGINT".
    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        default: "signal \(signal)"
        }
    }
}

/// A job stopped by SIGTERM or SIGINT at a safe point, its work kept: the command prints this
/// and exits with 128 + the signal (as a process the signal ended would).
public struct Preempted: Error, CustomStringConvertible {
    public let signal: Int32
    /// What was kept ("checkpoint at step 120 written to 'runs/gan/checkpoint.safetensors'").
    public let kept: String
    /// How to go on ("run the same command with --resume").
    public let resume: String

    public init(signal: Int32, kept: String, resume: String) {
        (self.signal, self.kept, self.resume) = (signal, kept, resume)
    }

    public var description: String { "stopped by \(Preemption.name(signal)): \(kept); to continue, \(resume)" }
    public var exitStatus: Int32 { 128 + signal }
}
