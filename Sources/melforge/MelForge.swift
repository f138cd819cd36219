import ArgumentParser
import Cluster
import Foundation
import Layers
import Pipeline

@main
struct MelForge: ParsableCommand {
    static func main() {
        ProcessStart.prepare()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let stopped as Preempted {
            // Stopped at a safe point by SIGTERM or SIGINT, its work kept (every process of a job).
            if Replicas.isFirst { FileHandle.standardError.write(Data("melforge: \(stopped)\n".utf8)) }
            MPIWorld.current?.finish()
            Foundation.exit(stopped.exitStatus)
        } catch {
            // One process of a data-parallel job: the whole job ends, naming this rank.
            if let world = MPIWorld.current, world.count > 1, exitCode(for: error) != .success {
                world.abort(fullMessage(for: error))
            }
            exit(withError: error)
        }
        MPIWorld.current?.finish()
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
        subcommands: [SpectrogramCommand.self, InvertCommand.self, ResynthCommand.self, TrainCommand.self, SynthesizeCommand.self,
                      ReconstructCommand.self, InterpolateCommand.self, ConvertCommand.self, ClassifierCommand.self,
                      EvaluateCommand.self, SteerCommand.self, BenchCommand.self, DoctorCommand.self])
}

/// `melforge doctor`.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Print the native libraries in use: BLAS kernel and threads, FFTW, libsndfile, libsoxr, libpng, Open MPI.")

    func run() throws {
        let launched = MPIWorld.launched() ? " (this process was started by an MPI launcher)" : ""
        print(Diagnostics.report(extra: [
            ("Open MPI", (MPIWorld.libraryVersion.split(separator: ",").first.map(String.init) ?? "?") + launched),
        ]))
    }
}

/// `melforge bench`.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps of the reference DCGAN, VAE or classifier (1x64x64, batch 64, Adam) on random data.",
        discussion: """
            gan: one discriminator and one generator update per step (non-saturating BCE); \
            vae: one update of squared error + KL; classifier: one update of the judge (ten classes, \
            softmax cross-entropy, 3 forwards). Prints the median milliseconds per step, \
            samples per second, and GFLOP/s counted as the reference benchmark counts them \
            (forward multiply-adds x 2; a step is G x 4 + D x 8 forwards for the GAN, 3 for the VAE).
            """)

    @Argument(help: "gan, vae or classifier.")
    var model: StepBenchmark.Model

    @Option(help: "Images per step.")
    var batchSize = 64

    @Option(help: "Timed steps.")
    var steps = 20

    @Option(help: "Untimed steps first.")
    var warmup = 3

    @Option(help: "Seed of the weights and the random data.")
    var seed: UInt64 = 0

    @Flag(help: "List each convolution's passes and the implementation that ran each (oneDNN's kernel, or im2col).")
    var explain = false

    @OptionGroup(title: "Engine")
    var engine: EngineOptions

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size \(batchSize) is not accepted; expected 1 or more") }
        guard steps >= 1 else { throw ValidationError("--steps \(steps) is not accepted; expected 1 or more") }
        guard warmup >= 0 else { throw ValidationError("--warmup \(warmup) is not accepted; expected 0 or more") }
    }

    func run() throws {
        // Under mpirun: every process steps on its share, and the allreduce is timed too.
        _ = try MPIWorld.joinIfLaunched()
        let chosen = engine.apply()
        if Replicas.isFirst { print("convolutions: \(chosen)") }
        var benchmark = StepBenchmark(model: model)
        (benchmark.batchSize, benchmark.steps, benchmark.warmup, benchmark.seed) = (batchSize, steps, warmup, seed)
        benchmark.explain = explain
        for line in benchmark.run() where Replicas.isFirst { print(line) }
    }
}
