import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

@main
struct MelForge: ParsableCommand {
    static func main() {
        chooseBLASKernel()
        keepFreedMemory()
        main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "melforge",
        abstract: "Audio synthesis pipeline: audio -> mel spectrogram -> model -> vocoder -> audio.",
        discussion: """
            Front end: read any audio libsndfile reads, mix to mono, resample with libsoxr, \
            STFT with FFTW, librosa-compatible mel filter bank, dB scaling.

            Run 'melforge help <subcommand>' for each command's options and defaults.
            """,
        version: "0.1.0",
        subcommands: [SpectrogramCommand.self, InvertCommand.self, ResynthCommand.self, TrainCommand.self, SynthesizeCommand.self, ReconstructCommand.self, InterpolateCommand.self,
                      ConvertCommand.self, ClassifierCommand.self, EvaluateCommand.self, SteerCommand.self, BenchCommand.self, DoctorCommand.self])
}
