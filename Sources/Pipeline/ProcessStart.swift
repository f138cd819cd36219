import BLAS
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the `melforge` process does before anything else: the right BLAS kernel, and freed
/// memory kept for the next training step.
public enum ProcessStart {
    public static func prepare() {
        chooseBLASKernel()
        keepFreedMemory()
    }
}

/// Gives OpenBLAS the kernel this CPU can run when it fell back to a slower one
/// (`KernelChoice`): sets OPENBLAS_CORETYPE and starts this same program again, with the
/// same arguments. Does nothing when the user set OPENBLAS_CORETYPE, when the kernel is
/// already right, or in the restarted process.
private func chooseBLASKernel() {
    let environment = ProcessInfo.processInfo.environment
    guard environment[KernelChoice.restartMarker] == nil,
          let kernel = KernelChoice.recommendation(currentKernel: BLAS.kernel, cpuFlags: KernelChoice.cpuFlags(),
                                                   userSetting: environment["OPENBLAS_CORETYPE"])
    else { return }
    setenv("OPENBLAS_CORETYPE", kernel, 1)
    setenv(KernelChoice.restartMarker, "\(BLAS.kernel)->\(kernel)", 1)
    let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", arguments)
    // Only reached if the restart failed: carry on with the kernel we have.
    unsetenv("OPENBLAS_CORETYPE")
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
