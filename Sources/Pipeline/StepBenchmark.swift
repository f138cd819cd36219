import BLAS
import Foundation
import Layers
import Models
import Optimizers
import Tensors

/// `melforge bench`: training steps of the reference DCGAN or VAE
/// (../shared/bench/bench_train.py's architectures, 1x64x64, Adam) on random data, timed the
/// way the reference times TensorFlow and PyTorch so that both sides run in one go.
public struct StepBenchmark {
    public enum Model: String, CaseIterable, Sendable { case gan, vae, classifier }

    public var model: Model
    public var batchSize = 64
    public var steps = 20
    public var warmup = 3
    public var seed: UInt64 = 0
    /// Lists, after the timings, each convolution's passes and the implementation that ran
    /// each (`ConvolutionRoads`), as recorded in the first step.
    public var explain = false

    public init(model: Model) { self.model = model }

    /// Runs and returns the report's lines: the model's size, the BLAS in use, then the
    /// median milliseconds per step, samples per second, GFLOP/s counted as the reference
    /// counts them (forward multiply-adds x 2; a step is G x 4 + D x 8 forwards for the GAN, 3
    /// for the VAE) and the peak resident memory.
    /// Under mpirun each process steps on its share of the batch (`Replicas`), and the
    /// allreduce of each model's gradients is timed on its own besides.
    public func run() -> [String] {
        var random = RandomNumbers(seed: seed)
        let share = BatchShare.mine(of: batchSize)
        let data = share.rows(of: random.uniform([batchSize, 1, 64, 64], low: -1, high: 1))
        var lines: [String] = []
        let step: () -> Void
        let flopsPerStep: Double
        let models: [(name: String, parameters: [Parameter])]
        switch model {
        case .gan:
            let trainer = GANTrainer(generator: Generator(random: &random), discriminator: Discriminator(random: &random))
            flopsPerStep = Double(batchSize) * Double(trainer.generator.forwardFLOPsPerSample * 4
                + trainer.discriminator.forwardFLOPsPerSample(imageSize: 64) * 8)
            lines.append("parameters: G \(trainer.generator.parameterCount), D \(trainer.discriminator.parameterCount)")
            step = { _ = trainer.step(real: data, share: share, random: &random) }
            models = [("G", trainer.generator.parameters), ("D", trainer.discriminator.parameters)]
        case .vae:
            let trainer = VAETrainer(model: ConvVAE(random: &random))
            flopsPerStep = Double(batchSize) * Double(trainer.model.forwardFLOPsPerSample(imageSize: 64) * 3)
            lines.append("parameters: VAE \(trainer.model.parameterCount)")
            step = { _ = trainer.step(images: data, share: share, random: &random) }
            models = [("VAE", trainer.model.parameters)]
        case .classifier:
            // The judge's training step: ten classes, dropout on, softmax cross-entropy, Adam.
            let classifier = Classifier(classes: 10, random: &random)
            let optimizer = Adam(parameters: classifier.parameters, learningRate: 1e-3, beta1: 0.9)
            let labels = (0..<share.rows.count).map { $0 % 10 }
            flopsPerStep = Double(batchSize) * Double(classifier.forwardFLOPsPerSample(imageSize: 64) * 3)
            lines.append("parameters: classifier \(classifier.parameterCount)")
            step = {
                for parameter in classifier.parameters { parameter.gradient.zero() }
                let (logits, _, cache) = classifier.forward(data, training: true, share: share, random: &random)
                classifier.backward(Loss.softmaxCrossEntropy(logits, labels: labels).gradient, cache: cache, inputGradient: false)
                Replicas.sumGradients(classifier.parameters)
                optimizer.update()
            }
            models = [("classifier", classifier.parameters)]
        }
        if let reducer = Replicas.reducer {
            lines.append("data-parallel: process \(reducer.rank) of \(reducer.count), rows \(share.rows) of \(batchSize)")
        }
        lines.append("BLAS: \(BLAS.kernel) kernel, \(BLAS.threads) threads")
        if explain { ConvolutionRoads.startRecording() }
        let firstStart = Date()
        step()
        let first = Date().timeIntervalSince(firstStart)
        let roads = explain ? ConvolutionRoads.stopRecording() : []
        for _ in 1..<max(1, warmup) { step() }
        var times: [Double] = []
        for _ in 0..<steps {
            let start = Date()
            step()
            times.append(Date().timeIntervalSince(start))
        }
        let median = Self.median(times)
        lines.append(String(format: "%@: median %.1f ms/step (min %.1f, max %.1f, first %.2f s)  %.1f samples/s  %.1f GFLOP/s  peak RSS %.0f MB",
                            model.rawValue.uppercased(), 1e3 * median, 1e3 * times.min()!, 1e3 * times.max()!, first,
                            Double(batchSize) / median, flopsPerStep / median / 1e9, Self.peakResidentMegabytes()))
        if Replicas.reducer != nil {
            for (name, parameters) in models {
                let bytes = 4 * parameters.reduce(0) { $0 + $1.gradient.count }
                var reduceTimes: [Double] = []
                for _ in 0..<steps {
                    let start = Date()
                    Replicas.sumGradients(parameters)
                    reduceTimes.append(Date().timeIntervalSince(start))
                }
                lines.append(String(format: "allreduce of %@'s gradients: %.2f MB, median %.2f ms (%.2f GB/s of buffer)", name,
                                    Double(bytes) / 1e6, 1e3 * Self.median(reduceTimes), Double(bytes) / Self.median(reduceTimes) / 1e9))
            }
        }
        if explain { lines += Self.explanation(roads) }
        return lines
    }

    /// The roads as a table: one row per convolution, its three passes' implementations.
    public static func explanation(_ roads: [ConvolutionRoads.Road]) -> [String] {
        var layers: [String] = []
        var cells: [String: [ConvolutionPass: String]] = [:]
        for road in roads {
            if cells[road.layer] == nil { layers.append(road.layer) }
            cells[road.layer, default: [:]][road.pass] =
                road.implementation + (road.declined.map { " (oneDNN: \($0))" } ?? "")
        }
        let header = ["layer"] + ConvolutionPass.allCases.map(\.description)
        let rows = [header] + layers.map { layer in [layer] + ConvolutionPass.allCases.map { cells[layer]?[$0] ?? "-" } }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max()! }
        return ["roads (the implementation each pass ran with; oneDNN's reference loops are never run):"]
            + rows.map { row in
                zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                    .trimmingCharacters(in: .whitespaces)
            }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// The process's peak resident set size (VmHWM), in MB.
    static func peakResidentMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes / 1024
    }
}
