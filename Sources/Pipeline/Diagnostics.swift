import AudioIO
import BLAS
import FileFormats
import Foundation
import Layers
import Spectral
import WorkerPool

/// `melforge doctor`: the native libraries in use, the threads MelForge will take and the
/// precision training would use.
public enum Diagnostics {
    /// Name and value rows.
    public static func rows(environment: [String: String] = ProcessInfo.processInfo.environment) -> [(String, String)] {
        let cpu = KernelChoice.level(ofCPUFlags: KernelChoice.cpuFlags())
        var kernelNote = "chosen by OpenBLAS for this CPU"
        if let chosen = environment[KernelChoice.restartMarker] {
            kernelNote = "chosen by melforge (OpenBLAS had picked \(chosen.split(separator: "-").first ?? ""), below this CPU's level)"
        } else if let setting = environment["OPENBLAS_CORETYPE"], !setting.isEmpty {
            kernelNote = "set by OPENBLAS_CORETYPE=\(setting)"
        }
        return [
            ("BLAS kernel", "\(BLAS.kernel) (\(kernelNote); CPU level \(cpu), best kernel \(cpu.kernel))"),
            ("BLAS threads", "\(BLAS.threads)"),
            ("BLAS build", BLAS.configuration),
            ("threads", "\(Workers.count) (\(environment["MELFORGE_THREADS"].map { "MELFORGE_THREADS=\($0)" } ?? "the cores available"))"),
            ("FFTW", RealFFT.libraryVersion),
            ("libsndfile", AudioFile.libraryVersion),
            ("libsoxr", Resampler.libraryVersion),
            ("libpng", PNG.libraryVersion),
            ("oneDNN", "\(OneDNN.version), \(OneDNN.instructionSet)"),
            ("precision", (OneDNN.hasBFloat16 ? "bf16 (the CPU has AVX-512 BF16 or AMX)" : "fp32 (no bfloat16 instructions)")
                + ": what train, classifier train, steer and bench use by default"),
        ]
    }

    /// The rows, and `extra` rows after them, as aligned text.
    public static func report(extra: [(String, String)] = []) -> String {
        (rows() + extra).map { $0.0.padding(toLength: 14, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
    }
}
