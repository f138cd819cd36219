import ArgumentParser
import AudioIO
import Datasets
import FileFormats
import Foundation
import Models
import Spectral
import Tensors
import Training

extension TrainingConfiguration.Model: ExpressibleByArgument {}
extension GANLoss: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a convolutional GAN or VAE on audio clips (as log-mel images) or on images.",
        discussion: """
            --data DIR: every audio file under DIR, cut or padded to 16,128 samples at 16 kHz and \
            turned into a 64-band x 64-frame log-mel image, normalised to [-1, 1] over the \
            top 80 dB of the whole set (the range is stored in the checkpoint). DIR may also hold \
            'melforge spectrogram --n-mels 64' .npy files with their JSON, or be the output of \
            'melforge convert --n-mels 64' (.npy files or shards). \
            --images PATH: an MNIST IDX file (plain or .gz) or a folder of PNGs.

            RUN_DIR receives checkpoint.safetensors (weights, Adam's state, random state, \
            configuration; written atomically every --checkpoint-every steps), log.jsonl (one line \
            per logged step), samples.png (a grid from fixed latents) and losses.svg; for audio also \
            samples/sample-N.npy with their JSON, which 'melforge invert' turns into WAV files. --resume \
            continues a killed run from its last checkpoint, with the same losses as an \
            uninterrupted run. A NaN or infinite loss stops training and keeps the last good \
            checkpoint.
            """)

    @Argument(help: "gan or vae.")
    var model: TrainingConfiguration.Model

    @OptionGroup(title: "Data")
    var source: DataOptions

    @Option(help: "The run's folder.")
    var out: String

    @Option(help: "Training steps (one batch each).")
    var steps: Int?

    @Option(help: "Passes over the data (instead of --steps).")
    var epochs: Int?

    @Option(help: "Images per step.")
    var batchSize = 64

    @Option(help: "Adam's learning rate.")
    var lr: Float = 2e-4

    @Option(help: "GAN loss: hinge (with spectral normalisation; the default for --data) or bce (the default for --images).")
    var loss: GANLoss?

    @Option(help: "The VAE's KL weight (beta).")
    var beta: Float = 1

    @Option(help: "The VAE's KL warm-up: the KL weight rises linearly from 0 to --beta over this many steps.")
    var klWarmup = 1_000

    @Option(help: "Seed of the weights, the batches and the latents.")
    var seed: UInt64 = 0

    @Flag(help: "Condition the model on class labels: each clip's or picture's parent folder, or an IDX labels file.")
    var conditional = false

    @Option(help: "Latent size (default: 100 for the GAN, 64 for the VAE).")
    var latentSize: Int?

    @Option(help: "Feature widths from the image inwards, comma-separated (default: 32 doubling per stage, at most 256).")
    var widths: String?

    @Option(help: "Save a checkpoint, samples and the loss curve every this many steps.")
    var checkpointEvery = 200

    @Option(help: "Write a log line every this many steps.")
    var logEvery = 10

    @Flag(help: "Continue the run in --out from its last checkpoint.")
    var resume = false

    @Option(help: "A classifier from 'melforge classifier train' on data like these: evaluates the model every --eval-every steps (Inception score, Frechet distance to the training data, label entropy, |D|self of --eval-count samples, from the spectrograms without vocoding), logged with the losses and drawn in scores.svg.")
    var classifier: String?

    @Option(help: "With --classifier: evaluate every this many steps (default: --checkpoint-every).")
    var evalEvery: Int?

    @Option(help: "With --classifier: samples drawn per evaluation.")
    var evalCount = 256

    func validate() throws {
        try source.validate()
        guard (steps == nil) || (epochs == nil) else { throw ValidationError("give --steps or --epochs, not both") }
        if let steps, steps < 1 { throw ValidationError("--steps \(steps) is not accepted; expected 1 or more") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs \(epochs) is not accepted; expected 1 or more") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size \(batchSize) is not accepted; expected 1 or more") }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr \(lr) is not accepted; expected a positive number") }
        guard checkpointEvery >= 1, logEvery >= 1 else {
            throw ValidationError("--checkpoint-every and --log-every must be 1 or more")
        }
        guard beta >= 0 && beta.isFinite else { throw ValidationError("--beta \(beta) is not accepted; expected 0 or more") }
        guard klWarmup >= 0 else { throw ValidationError("--kl-warmup \(klWarmup) is not accepted; expected 0 or more (0: no warm-up)") }
        if let evalEvery, evalEvery < 1 { throw ValidationError("--eval-every \(evalEvery) is not accepted; expected 1 or more") }
        guard evalCount >= 10 else { throw ValidationError("--eval-count \(evalCount) is not accepted; expected 10 or more (the Inception score takes 10 splits)") }
        if classifier == nil && evalEvery != nil { throw ValidationError("--eval-every needs --classifier") }
        if let widths, parseWidths(widths) == nil {
            throw ValidationError("--widths '\(widths)' is not accepted; expected positive integers separated by commas")
        }
    }

    func run() throws {
        let (dataset, normalization, folderLabels) = try source.load()
        let (labelIndices, classNames) = try conditional ? source.classLabels(folderLabels, count: dataset.shape[0], for: "--conditional") : (nil, nil)
        let checkpointPath = out + "/checkpoint.safetensors"
        let existing = FileManager.default.fileExists(atPath: checkpointPath)
        if existing && !resume {
            throw CommandError("'\(out)' already holds a run; pass --resume to continue it, or choose another --out")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        let training: TrainingRun
        var log: [String]
        if resume && existing {
            let file = try SafeTensors.read(checkpointPath)
            let configuration = try TrainingRun.configuration(of: file, path: checkpointPath)
            guard configuration.imageSize == dataset.shape[2], configuration.channels == dataset.shape[1] else {
                throw InputError(file: checkpointPath, problem: "was trained on \(configuration.channels)x\(configuration.imageSize)x\(configuration.imageSize) images, the data is \(dataset.shape.dropFirst().map(String.init).joined(separator: "x"))")
            }
            guard (configuration.classes == nil) == (classNames == nil) else {
                throw InputError(file: checkpointPath, problem: "is \(configuration.classes == nil ? "an unconditional" : "a conditional") run; \(conditional ? "drop" : "add") --conditional to resume it")
            }
            training = TrainingRun(configuration: configuration, data: dataset, labels: labelIndices)
            try training.restore(from: file, path: checkpointPath)
            log = readLog().filter { (decodeStep($0) ?? Int.max) <= training.step }
            print("resuming \(out) at step \(training.step)")
        } else {
            var configuration = try makeConfiguration(dataset)
            configuration.classes = classNames
            training = TrainingRun(configuration: configuration, data: dataset, labels: labelIndices)
            log = []
        }
        let total = steps ?? (epochs.map { $0 * training.batchesPerEpoch } ?? 2_000)
        var metadata = ["data": source.path]
        if let normalization {
            metadata["normalization"] = String(decoding: try JSONEncoder().encode(normalization), as: UTF8.self)
            metadata["front_end"] = String(decoding: try JSONEncoder().encode(DataOptions.frontEnd), as: UTF8.self)
        }
        let evaluation = try classifier.map { try TrainingEvaluation(classifier: $0, data: dataset, normalization: normalization,
                                                                      count: evalCount, seed: training.configuration.seed) }
        let evaluateEvery = evalEvery ?? checkpointEvery
        let progress = ProgressBar(total: total, label: "train \(model.rawValue)", unit: "steps")
        let started = Date()
        let firstStep = training.step
        while training.step < total {
            let losses = training.trainStep()
            if let bad = losses.first(where: { !$0.value.isFinite }) {
                progress.finish()
                throw TrainingError.diverged(step: training.step, loss: bad.key, value: bad.value, checkpoint: checkpointPath)
            }
            let rate = Double((training.step - firstStep) * training.configuration.batchSize) / Date().timeIntervalSince(started)
            progress.update(training.step, note: losses.sorted { $0.key < $1.key }
                .map { "\($0.key) \(String(format: "%.3f", $0.value))" }.joined(separator: "  ") + String(format: "  %.0f samples/s", rate))
            var scores: [String: Double] = [:]
            if let evaluation, training.step % evaluateEvery == 0 || training.step == total {
                scores = evaluation.scores(of: training)
            }
            if training.step % logEvery == 0 || training.step == total || !scores.isEmpty {
                log.append(logLine(step: training.step, losses: losses, scores: scores, rate: rate))
            }
            if training.step % checkpointEvery == 0 || training.step == total {
                try training.save(to: checkpointPath, metadata: metadata)
                try AtomicFile.write(Array((log.joined(separator: "\n") + "\n").utf8), to: out + "/log.jsonl")
                try writeSamples(training, normalization: normalization)
                try LossCurve.write(log: log, to: out + "/losses.svg", excluding: TrainingEvaluation.keys)
                if evaluation != nil {
                    try LossCurve.write(log: log, to: out + "/scores.svg", only: ["inception_score", "label_entropy_bits"])
                }
            }
        }
        progress.finish()
        print("\(out): \(training.step) steps; checkpoint, log.jsonl, samples.png and losses.svg\(evaluation == nil ? "" : " and scores.svg") written")
    }

    func makeConfiguration(_ dataset: Tensor) throws -> TrainingConfiguration {
        let size = dataset.shape[2]
        guard dataset.shape[3] == size else { throw CommandError("images must be square; got \(dataset.shape[2])x\(dataset.shape[3])") }
        let chosen = widths.flatMap(parseWidths) ?? defaultWidths(imageSize: size)
        guard let chosen, chosen.count >= 1, (size >> chosen.count) >= 2, (size >> chosen.count) << chosen.count == size else {
            throw CommandError("image side \(size) is not B * 2^k with B >= 2 for \(widths.map { "--widths \($0)" } ?? "any stage count"); use 28, 32, 56, 64, ...")
        }
        var configuration = TrainingConfiguration(model: model, channels: dataset.shape[1], imageSize: size,
                                                  latentSize: latentSize ?? (model == .gan ? 100 : 64), widths: chosen,
                                                  batchSize: batchSize, learningRate: lr, seed: seed)
        configuration.loss = loss ?? (source.data != nil ? .hinge : .bce)
        configuration.beta = beta
        configuration.klWarmupSteps = klWarmup
        return configuration
    }

    // MARK: Outputs

    func logLine(step: Int, losses: [String: Float], scores: [String: Double] = [:], rate: Double) -> String {
        let fields = losses.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }
            + scores.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \(String(format: "%.6g", $0.value))" }
        return "{\"step\": \(step), " + fields.joined(separator: ", ") + ", \"samples_per_s\": \(String(format: "%.1f", rate))}"
    }

    func readLog() -> [String] {
        guard let text = try? String(contentsOfFile: out + "/log.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init)
    }

    func decodeStep(_ line: String) -> Int? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["step"] as? Int
    }

    /// samples.png, and for audio the first four samples as normalised log-mel .npy files with
    /// their sidecar JSON, which `melforge invert` turns into sound.
    func writeSamples(_ training: TrainingRun, normalization: LogMelNormalization?) throws {
        let audio = normalization != nil
        let samples = training.samples(count: 16)
        let (h, w) = (samples.shape[2], samples.shape[3])
        var tiles: [PixelImage] = []
        for n in 0..<samples.shape[0] {
            let values = Array(samples.values[(n * samples.count / 16)..<((n + 1) * samples.count / 16)].prefix(h * w))
            tiles.append(Heatmap.render(values, rows: h, columns: w, range: -1...1, colorMap: audio ? .magma : .gray,
                                        lowRowAtBottom: audio, cellSize: (max(1, 96 / w), max(1, 96 / h))))
        }
        try PNG.write(Heatmap.grid(tiles, columns: 4), to: out + "/samples.png")
        guard let normalization else { return }
        try FileManager.default.createDirectory(atPath: out + "/samples", withIntermediateDirectories: true)
        for n in 0..<4 {
            let path = out + "/samples/sample-\(n + 1).npy"
            let values = Array(samples.values[(n * h * w)..<((n + 1) * h * w)])
            try NPY.write(NumPyArray(shape: [h, w], values: values), to: path)
            try FeatureSidecar(frontEnd: DataOptions.frontEnd, normalization: normalization, samples: DataOptions.clipSamples,
                               source: nil)
                .write(to: FeatureSidecar.path(forArray: path))
        }
    }
}

enum TrainingError: Error, CustomStringConvertible {
    case diverged(step: Int, loss: String, value: Float, checkpoint: String)

    var description: String {
        switch self {
        case .diverged(let step, let loss, let value, let checkpoint):
            let kept = FileManager.default.fileExists(atPath: checkpoint)
                ? "the last good checkpoint is '\(checkpoint)'" : "no checkpoint had been written yet"
            return "training diverged at step \(step): the \(loss) loss is \(value); stopped, \(kept) (try a lower --lr)"
        }
    }
}
