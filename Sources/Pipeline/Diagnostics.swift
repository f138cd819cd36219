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
            ("oneDNN", "\(OneDNN.version), \(OneDNN.instructionSet)"
                + (environment["ONEDNN_MAX_CPU_ISA"].map { " (ONEDNN_MAX_CPU_ISA=\($0))" } ?? "")),
            ("C kernels", KernelBuilds.running + (KernelBuilds.running == KernelBuilds.cpu ? "" : ", capped (the CPU runs \(KernelBuilds.cpu))")),
            ("engine", defaultEngine + ": what train, classifier train, steer and bench use by default"),
        ]
    }

    /// The default engine on this CPU and why. Without bfloat16 instructions oneDNN fp32 runs
    /// each convolution pass with its own kernel where it has one and on im2col where it has
    /// only reference loops (`ConvolutionRoads`; `melforge bench gan --explain` lists them):
    /// measured with oneDNN and OpenBLAS limited to AVX2 (BENCHMARKS.md) it is ahead of im2col
    /// alone for the GAN, the VAE and the classifier.
    static var defaultEngine: String {
        OneDNN.hasBFloat16
            ? "oneDNN bf16 (the CPU has AVX-512 BF16 or AMX)"
            : "oneDNN fp32 (no bfloat16 instructions), each pass on im2col where oneDNN has only reference loops"
    }

    /// The rows, and `extra` rows after them, as aligned text.
    public static func report(extra: [(String, String)] = []) -> String {
        (rows() + extra).map { $0.0.padding(toLength: 14, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
    }
}
