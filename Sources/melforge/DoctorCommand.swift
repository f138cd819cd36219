import ArgumentParser
import AudioIO
import BLAS
import FileFormats
import Spectral
import Foundation

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Print the native libraries in use: BLAS kernel and threads, FFTW, libsndfile, libsoxr, libpng.")

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let cpu = KernelChoice.level(ofCPUFlags: KernelChoice.cpuFlags())
        var kernelNote = "chosen by OpenBLAS for this CPU"
        if let chosen = environment[KernelChoice.restartMarker] {
            kernelNote = "chosen by melforge (OpenBLAS had picked \(chosen.split(separator: "-").first ?? ""), below this CPU's level)"
        } else if let setting = environment["OPENBLAS_CORETYPE"], !setting.isEmpty {
            kernelNote = "set by OPENBLAS_CORETYPE=\(setting)"
        }
        let rows = [
            ("BLAS kernel", "\(BLAS.kernel) (\(kernelNote); CPU level \(cpu), best kernel \(cpu.kernel))"),
            ("BLAS threads", "\(BLAS.threads)"),
            ("BLAS build", BLAS.configuration),
            ("FFTW", RealFFT.libraryVersion),
            ("libsndfile", AudioFile.libraryVersion),
            ("libsoxr", Resampler.libraryVersion),
            ("libpng", PNG.libraryVersion),
        ]
        for (name, value) in rows {
            print(name.padding(toLength: 14, withPad: " ", startingAt: 0) + value)
        }
    }
}
