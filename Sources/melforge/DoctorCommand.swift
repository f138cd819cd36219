import ArgumentParser
import AudioIO
import BLAS
import FileFormats
import Spectral

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Print the native libraries in use: BLAS kernel and threads, FFTW, libsndfile, libsoxr, libpng.")

    func run() throws {
        let rows = [
            ("BLAS kernel", BLAS.kernel),
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
