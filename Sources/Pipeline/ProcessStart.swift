import BLAS
import Foundation
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
    if let kernel = KernelChoice.recommendation(currentKernel: BLAS.kernel, cpuFlags: KernelChoice.cpuFlags(),
                                                userSetting: environment["OPENBLAS_CORETYPE"]) {
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
    for name in ["OPENBLAS_CORETYPE", "OMP_WAIT_POLICY", KernelChoice.restartMarker, ProcessStart.restartMarker]
    where environment[name] == nil {
        unsetenv(name)
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
