import BLAS
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Gives OpenBLAS the kernel this CPU can run when it fell back to a slower one
/// (`KernelChoice`): sets OPENBLAS_CORETYPE and starts this same program again, with the
/// same arguments. Does nothing when the user set OPENBLAS_CORETYPE, when the kernel is
/// already right, or in the restarted process.
func chooseBLASKernel() {
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
