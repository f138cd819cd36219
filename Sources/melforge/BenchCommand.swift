import ArgumentParser
import BLAS
import Foundation
import Layers
import Models
import Tensors

extension BenchModel: ExpressibleByArgument {}

enum BenchModel: String, CaseIterable {
    case gan, vae
}

/// Trains the reference architectures (../shared/bench/bench_train.py) on random data and
/// measures: the same work TensorFlow and PyTorch do there, so both sides run in one go.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps of the reference DCGAN or VAE (1x64x64, batch 64, Adam) on random data.",
        discussion: """
            gan: one discriminator and one generator update per step (non-saturating BCE); \
            vae: one update of squared error + KL. Prints the median milliseconds per step, \
            samples per second, and GFLOP/s counted as the reference benchmark counts them \
            (forward multiply-adds x 2; a step is G x 4 + D x 8 forwards for the GAN, 3 for the VAE).
            """)

    @Argument(help: "gan or vae.")
    var model: BenchModel

    @Option(help: "Images per step.")
    var batchSize = 64

    @Option(help: "Timed steps.")
    var steps = 20

    @Option(help: "Untimed steps first.")
    var warmup = 3

    @Option(help: "Seed of the weights and the random data.")
    var seed: UInt64 = 0

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size \(batchSize) is not accepted; expected 1 or more") }
        guard steps >= 1 else { throw ValidationError("--steps \(steps) is not accepted; expected 1 or more") }
        guard warmup >= 0 else { throw ValidationError("--warmup \(warmup) is not accepted; expected 0 or more") }
    }

    func run() throws {
        var random = RandomNumbers(seed: seed)
        let data = random.uniform([batchSize, 1, 64, 64], low: -1, high: 1)
        let step: () -> Void
        let flopsPerStep: Double
        switch model {
        case .gan:
            let trainer = GANTrainer(generator: Generator(random: &random), discriminator: Discriminator(random: &random))
            flopsPerStep = Double(batchSize) * Double(trainer.generator.forwardFLOPsPerSample * 4
                + trainer.discriminator.forwardFLOPsPerSample(imageSize: 64) * 8)
            print("parameters: G \(trainer.generator.parameterCount), D \(trainer.discriminator.parameterCount)")
            step = { _ = trainer.step(real: data, random: &random) }
        case .vae:
            let trainer = VAETrainer(model: ConvVAE(random: &random))
            flopsPerStep = Double(batchSize) * Double(trainer.model.forwardFLOPsPerSample(imageSize: 64) * 3)
            print("parameters: VAE \(trainer.model.parameterCount)")
            step = { _ = trainer.step(images: data, random: &random) }
        }
        print("BLAS: \(BLAS.kernel) kernel, \(BLAS.threads) threads")
        let firstStart = Date()
        step()
        let first = Date().timeIntervalSince(firstStart)
        for _ in 1..<max(1, warmup) { step() }
        var times: [Double] = []
        for _ in 0..<steps {
            let start = Date()
            step()
            times.append(Date().timeIntervalSince(start))
        }
        let sorted = times.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        print(String(format: "%@: median %.1f ms/step (min %.1f, max %.1f, first %.2f s)  %.1f samples/s  %.1f GFLOP/s  peak RSS %.0f MB",
                     model.rawValue.uppercased(), 1e3 * median, 1e3 * sorted.first!, 1e3 * sorted.last!, first,
                     Double(batchSize) / median, flopsPerStep / median / 1e9, peakResidentMegabytes()))
    }
}

/// The process's peak resident set size (VmHWM), in MB.
func peakResidentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kilobytes / 1024
}
