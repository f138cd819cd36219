import BLAS
import Foundation
import Layers
#if canImport(Glibc)
import Glibc
#endif

/// What the `melforge` process does before anything else: the right BLAS kernel, OpenMP
/// threads that sleep when idle, and freed memory kept for the next training step.
public enum ProcessStart {
    public static func prepare() {
        restartWithBetterLibrarySettings()
        keepFreedMemory()
    }

    /// Set in a process this one restarted, so that it restarts at most once.
    static let restartMarker = "MELFORGE_RESTARTED"
}

/// Libraries read some settings from the environment only as they load, before `main`: so
/// they are set here and this same program is started again, with the same arguments, at most
/// once. Nothing a user set is changed.
///
/// - OpenBLAS falls back to a slower kernel on CPUs it does not know (`KernelChoice`):
///   OPENBLAS_CORETYPE gives it the one this CPU runs.
/// - oneDNN computes on OpenMP threads, which by default spin after each convolution, taking
///   a core from MelForge's own workers in the steps between (BatchNorm, activations, Adam):
///   OMP_WAIT_POLICY=PASSIVE lets them sleep. Measured (bf16 GAN step, three pairs): 193-199
///   ms against 242-268 ms with spinning threads.
private func restartWithBetterLibrarySettings() {
    let environment = ProcessInfo.processInfo.environment
    guard environment[ProcessStart.restartMarker] == nil, environment[KernelChoice.restartMarker] == nil else { return }
    var restart = false
    // MELFORGE_MAX_CPU_ISA: the whole process as a CPU of that level would run it.
    if let cap = environment["MELFORGE_MAX_CPU_ISA"], !cap.isEmpty {
        guard let settings = InstructionSetCap.settings(for: cap) else {
            FileHandle.standardError.write(Data("melforge: MELFORGE_MAX_CPU_ISA '\(cap)' is not accepted; expected sse41, avx2 or avx512 (or a oneDNN name such as AVX512_CORE)\n".utf8))
            exit(2)
        }
        for (name, value) in settings where environment[name] == nil {
            setenv(name, value, 1)
            restart = true
        }
    }
    // (An OPENBLAS_CORETYPE the user or the cap set is kept.)
    if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
       let kernel = KernelChoice.recommendation(currentKernel: BLAS.kernel, cpuFlags: KernelChoice.cpuFlags(),
                                                userSetting: nil) {
        setenv("OPENBLAS_CORETYPE", kernel, 1)
        setenv(KernelChoice.restartMarker, "\(BLAS.kernel)->\(kernel)", 1)
        restart = true
    }
    if environment["OMP_WAIT_POLICY"] == nil && environment["GOMP_SPINCOUNT"] == nil {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1)
        restart = true
    }
    guard restart else { return }
    setenv(ProcessStart.restartMarker, "1", 1)
    let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", arguments)
    // Only reached if the restart failed: carry on as we are.
    for name in ["OPENBLAS_CORETYPE", "OMP_WAIT_POLICY", "ONEDNN_MAX_CPU_ISA", KernelChoice.restartMarker, ProcessStart.restartMarker]
    where environment[name] == nil {
        unsetenv(name)
    }
}

/// `MELFORGE_MAX_CPU_ISA`: one setting that makes the process run as a CPU of that level would
/// (to check an AVX2 or SSE4.1 machine's roads and speed on a newer one): MelForge's own C
/// kernels read it (`KernelBuilds`), and it sets oneDNN's `ONEDNN_MAX_CPU_ISA` and OpenBLAS's
/// `OPENBLAS_CORETYPE` where they are unset.
public enum InstructionSetCap {
    /// The library settings a cap names (nil: not a cap): sse41 -> SSE41 and OpenBLAS's
    /// Nehalem kernel, avx2 -> AVX2 and Haswell, avx512 (or a oneDNN AVX-512 name) -> that
    /// oneDNN level and OpenBLAS's own choice.
    public static func settings(for cap: String) -> [(String, String)]? {
        guard KernelBuilds.isKnownCap(cap) else { return nil }
        let name = cap.uppercased()
        switch name {
        case "SSE41", "SSE4.1", "SSE2", "BASELINE": return [("ONEDNN_MAX_CPU_ISA", "SSE41"), ("OPENBLAS_CORETYPE", "Nehalem")]
        case "AVX": return [("ONEDNN_MAX_CPU_ISA", "AVX"), ("OPENBLAS_CORETYPE", "Sandybridge")]
        case "AVX2", "AVX2_VNNI", "AVX2_VNNI_2": return [("ONEDNN_MAX_CPU_ISA", name), ("OPENBLAS_CORETYPE", "Haswell")]
        case "AVX512": return [("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")]
        default: return [("ONEDNN_MAX_CPU_ISA", name)]
        }
    }
}

/// Training allocates the same large temporaries every step (im2col columns, layer outputs).
/// glibc serves allocations above 128 KiB with fresh mmap'd pages and returns them on free, so
/// every step paid for page faults and for the kernel zeroing pages. Raising the mmap and trim
/// thresholds keeps freed memory in the heap for the next step. (`mallopt` lives in
/// <malloc.h>, which Swift's Glibc module does not import, hence the lookup by name.)
private func keepFreedMemory() {
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
    let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
    let (trimThreshold, mmapThreshold): (Int32, Int32) = (-1, -3)  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
    _ = mallopt(mmapThreshold, 1 << 30)
    _ = mallopt(trimThreshold, 1 << 30)
}
