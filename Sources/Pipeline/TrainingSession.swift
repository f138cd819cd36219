import FileFormats
import Foundation
import Layers
import Models
import Pictures
import Tensors
import Training

/// What a user asks of a new generative model; `configuration(for:)` completes it from the
/// data (image size, channels) and the model's defaults.
public struct ModelRequest {
    public var kind: TrainingConfiguration.Model
    public var latentSize: Int?
    /// From the image inwards; nil for the default ones.
    public var widths: [Int]?
    /// The --widths text, for errors.
    public var widthsOption: String?
    public var batchSize: Int
    public var learningRate: Float
    public var seed: UInt64
    /// nil: hinge for audio, BCE for pictures.
    public var loss: GANLoss?
    public var beta: Float = 1
    public var klWarmup = 1_000
    /// The GAN's recipe for small real data (`TrainingConfiguration`): nil, false, nil: off.
    public var ema: Float?
    public var augment = false
    public var discriminatorLearningRate: Float?

    /// The flags' help texts.
    public static let help = (
        ema: "GAN: sample and checkpoint an exponential moving average of the generator's weights with this decay (e.g. 0.999; Karras et al. 2018).",
        augment: "GAN: augment every image the discriminator sees, real and generated (time shift, a frequency and a time mask, a small gain; DiffAugment, Zhao et al. 2020).",
        lrD: "GAN: the discriminator's learning rate (the two time-scale update rule; default: --lr).")

    /// Throws naming the flag of a value out of range.
    public func check() throws {
        guard beta >= 0 && beta.isFinite else { throw UsageError("--beta \(beta) is not accepted; expected 0 or more") }
        guard klWarmup >= 0 else { throw UsageError("--kl-warmup \(klWarmup) is not accepted; expected 0 or more (0: no warm-up)") }
        if let ema, !(ema >= 0 && ema < 1) { throw UsageError("--ema \(ema) is not accepted; expected a decay in [0, 1), e.g. 0.999") }
        if let rate = discriminatorLearningRate, !(rate > 0 && rate.isFinite) {
            throw UsageError("--lr-d \(rate) is not accepted; expected a learning rate above 0")
        }
        if kind != .gan && (ema != nil || augment || discriminatorLearningRate != nil) {
            throw UsageError("--ema, --augment and --lr-d are the GAN's; '\(kind.rawValue)' takes none of them")
        }
    }

    public init(kind: TrainingConfiguration.Model, batchSize: Int, learningRate: Float, seed: UInt64) {
        self.kind = kind
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.seed = seed
    }

    /// The configuration for training on `data`, with `classes` for a conditional model.
    public func configuration(for data: LabelledImages, classes: [String]?) throws -> TrainingConfiguration {
        try check()
        let shape = data.images.shape
        let size = shape[2]
        guard shape[3] == size else { throw UsageError("images must be square; got \(shape[2])x\(shape[3])") }
        let family = try ModelRegistry.family(kind)
        var configuration = TrainingConfiguration(
            model: kind, channels: shape[1], imageSize: size, latentSize: latentSize ?? family.defaultLatentSize,
            widths: try ModelShape.widths(widths, imageSize: size, option: widthsOption), batchSize: batchSize,
            learningRate: learningRate, seed: seed)
        configuration.loss = loss ?? (data.imaging != nil ? .hinge : .bce)
        configuration.beta = beta
        configuration.klWarmupSteps = klWarmup
        (configuration.ema, configuration.discriminatorLearningRate) = (ema, discriminatorLearningRate)
        if ema != nil { configuration.emaRampUp = true }
        if augment {
            // (Pictures too: a shift, a row and a column band blanked, a small change of level.)
            configuration.augmentation = SpectrogramAugmentation(bands: shape[2], frames: shape[3])
        }
        configuration.classes = classes
        return configuration
    }
}

/// `melforge train`: a generative model trained in a run folder, checkpointed, logged and
/// pictured as it goes, and resumable after a kill with the same losses.
///
/// The folder receives checkpoint.safetensors (weights, Adam's state, random state,
/// configuration and the audio contract, written atomically), log.jsonl, samples.png (a
/// grid from fixed latents), losses.svg, with an evaluation scores.svg, and for audio
/// samples/sample-N.npy with their JSON.
public final class GeneratorTraining {
    public let folder: String
    public let run: TrainingRun
    let data: LabelledImages
    let dataPath: String
    var log: RunLog
    public let resumed: Bool

    var checkpointPath: String { folder + "/checkpoint.safetensors" }

    /// A new run in `folder` (which must hold none), or with `resume` the run it holds.
    /// `labels`: each image's class index and the class names, for a conditional model.
    public init(folder: String, data: LabelledImages, dataPath: String, labels: (indices: [Int], classes: [String])?,
                resume: Bool, request: ModelRequest) throws {
        self.folder = folder
        self.data = data
        self.dataPath = dataPath
        let checkpointPath = folder + "/checkpoint.safetensors"
        let existing = FileManager.default.fileExists(atPath: checkpointPath)
        if existing && !resume {
            throw UsageError("'\(folder)' already holds a run; pass --resume to continue it, or choose another --out")
        }
        if let processes = Replicas.reducer?.count, min(request.batchSize, data.images.shape[0]) < processes {
            throw UsageError("--batch-size \(request.batchSize) is split over \(processes) processes: each needs at least one image per step (BatchNorm's statistics); use a batch of \(processes) or more")
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // One writer per run folder (in a data-parallel job the first process writes).
        if Replicas.isFirst { try OutputLock.hold(OutputLock.file(inFolder: folder), for: folder, command: OutputLock.thisCommand) }
        let dataset = data.images
        if resume && existing {
            let file = try SafeTensors.read(checkpointPath)
            let configuration = try TrainingRun.configuration(of: file, path: checkpointPath)
            guard configuration.imageSize == dataset.shape[2], configuration.channels == dataset.shape[1] else {
                throw InputError(file: checkpointPath, problem: "was trained on \(configuration.channels)x\(configuration.imageSize)x\(configuration.imageSize) images, the data is \(dataset.shape.dropFirst().map(String.init).joined(separator: "x"))")
            }
            guard (configuration.classes == nil) == (labels == nil) else {
                throw InputError(file: checkpointPath, problem: "is \(configuration.classes == nil ? "an unconditional" : "a conditional") run; \(labels != nil ? "drop" : "add") --conditional to resume it")
            }
            run = TrainingRun(configuration: configuration, data: dataset, labels: labels?.indices)
            try run.restore(from: file, path: checkpointPath)
            log = RunLog.resumed(path: folder + "/log.jsonl", atStep: run.step)
            resumed = true
        } else {
            run = TrainingRun(configuration: try request.configuration(for: data, classes: labels?.classes), data: dataset,
                              labels: labels?.indices)
            log = RunLog(path: folder + "/log.jsonl")
            resumed = false
        }
    }

    public struct Schedule {
        /// Train until this step (default: 2,000 steps).
        public var steps: Int?
        /// Or this many passes over the data.
        public var epochs: Int?
        public var checkpointEvery = 200
        public var logEvery = 10
        /// A classifier's file: the model is evaluated every `evaluateEvery` steps (default:
        /// `checkpointEvery`) on `evaluationCount` samples.
        public var classifier: String?
        public var evaluateEvery: Int?
        public var evaluationCount = 256

        public init() {}
    }

    /// Trains to the schedule's last step with a progress line; a NaN or infinite loss stops
    /// training and keeps the last good checkpoint. `extra` goes into the checkpoint's metadata
    /// (the precision it trained in, say). Returns a one-line summary.
    public func train(_ schedule: Schedule, metadata extra: [String: String] = [:]) throws -> String {
        let total = schedule.steps ?? (schedule.epochs.map { $0 * run.batchesPerEpoch } ?? 2_000)
        var metadata = extra.merging(["data": dataPath]) { $1 }
        if let imaging = data.imaging { metadata.merge(imaging.metadata) { $1 } }
        // In a data-parallel job every process trains; the first alone writes and reports.
        let writes = Replicas.isFirst
        let evaluation = try schedule.classifier.flatMap { path in writes ? path : nil }.map {
            try TrainingEvaluation(classifier: $0, data: data.images, imaging: data.imaging, count: schedule.evaluationCount,
                                   seed: run.configuration.seed)
        }
        let evaluateEvery = schedule.evaluateEvery ?? schedule.checkpointEvery
        let progress = writes ? ProgressBar(total: total, label: "train \(run.configuration.model.rawValue)", unit: "steps") : nil
        let started = Date()
        let firstStep = run.step
        while run.step < total {
            let losses = run.trainStep()
            if let bad = losses.first(where: { !$0.value.isFinite }) {
                progress?.finish()
                throw TrainingError.diverged(step: run.step, loss: bad.key, value: bad.value, checkpoint: checkpointPath)
            }
            let rate = Double((run.step - firstStep) * run.configuration.batchSize) / Date().timeIntervalSince(started)
            progress?.update(run.step, note: losses.sorted { $0.key < $1.key }
                .map { "\($0.key) \(String(format: "%.3f", $0.value))" }.joined(separator: "  ") + String(format: "  %.0f samples/s", rate))
            var scores: [String: Double] = [:]
            if let evaluation, run.step % evaluateEvery == 0 || run.step == total {
                scores = evaluation.scores(of: run)
            }
            if run.step % schedule.logEvery == 0 || run.step == total || !scores.isEmpty {
                log.append(step: run.step, values: losses, scores: scores,
                           trailing: [("samples_per_s", String(format: "%.1f", rate))])
            }
            let stop = Preemption.agreed()
            if writes && (run.step % schedule.checkpointEvery == 0 || run.step == total || stop != nil) {
                try run.save(to: checkpointPath, metadata: metadata)
                try log.save()
                try writeSamples()
                let model = run.configuration.model.rawValue.uppercased()
                try LossCurve.write(log: log.lines, to: folder + "/losses.svg", excluding: TrainingEvaluation.keys,
                                    title: "\(model) training losses", yLabel: "loss")
                if evaluation != nil {
                    try LossCurve.write(log: log.lines, to: folder + "/scores.svg", only: ["inception_score", "label_entropy_bits"],
                                        title: "\(model) scores by the classifier", yLabel: "score (Inception score; bits)")
                }
            }
            if let stop, run.step < total {
                progress?.finish()
                throw Preempted(signal: stop, kept: "checkpoint at step \(run.step) of \(total) written to '\(checkpointPath)'",
                                resume: "run the same command with --resume")
            }
        }
        progress?.finish()
        return "\(folder): \(run.step) steps; checkpoint, log.jsonl, samples.png and losses.svg\(evaluation == nil ? "" : " and scores.svg") written"
    }

    /// samples.png, and for audio the first four samples as normalised log-mel .npy files with
    /// their sidecar JSON, which `melforge invert` turns into sound.
    func writeSamples() throws {
        let samples = run.samples(count: 16)
        let (h, w) = (samples.shape[2], samples.shape[3])
        let audio = data.imaging != nil
        var tiles: [PixelImage] = []
        for n in 0..<samples.shape[0] {
            let values = Array(samples.values[(n * samples.count / 16)..<((n + 1) * samples.count / 16)].prefix(h * w))
            tiles.append(Heatmap.render(values, rows: h, columns: w, range: -1...1, colorMap: audio ? .magma : .gray,
                                        lowRowAtBottom: audio, cellSize: (max(1, 96 / w), max(1, 96 / h))))
        }
        let c = run.configuration
        let heading = "\(c.model.rawValue.uppercased()) at step \(run.step): 16 samples from fixed latents"
            + (audio ? " (log-mel, low frequencies at the bottom)" : "")
        let captions = c.classes.map { classes in (0..<samples.shape[0]).map { classes[$0 % classes.count] } }
        try PNG.write(CaptionedGrid.render(tiles, columns: 4, heading: heading, captions: captions, font: try Font.standard()),
                      to: folder + "/samples.png")
        guard let imaging = data.imaging else { return }
        try FileManager.default.createDirectory(atPath: folder + "/samples", withIntermediateDirectories: true)
        for n in 0..<4 {
            let path = folder + "/samples/sample-\(n + 1).npy"
            let values = Array(samples.values[(n * h * w)..<((n + 1) * h * w)])
            try NPY.write(NumPyArray(shape: [h, w], values: values), to: path)
            try FeatureSidecar(frontEnd: imaging.frontEnd, normalization: imaging.normalization,
                               samples: AudioImaging.clipSamples(frames: w, frontEnd: imaging.frontEnd), source: nil)
                .write(to: FeatureSidecar.path(forArray: path))
        }
    }
}

/// "data-parallel over 2 processes: 32 images each per step of 64": what each process of a
/// data-parallel job takes of a batch (nil in a job of one process).
public func dataParallelNote(batch: Int, unit: String) -> String? {
    guard let processes = Replicas.reducer?.count, processes > 1 else { return nil }
    let (fewest, most) = (batch / processes, (batch + processes - 1) / processes)
    return "data-parallel over \(processes) processes: \(fewest == most ? "\(most)" : "\(fewest)-\(most)") \(unit) each per step of \(batch)"
}

public enum TrainingError: Error, CustomStringConvertible {
    case diverged(step: Int, loss: String, value: Float, checkpoint: String)

    public var description: String {
        switch self {
        case .diverged(let step, let loss, let value, let checkpoint):
            let kept = FileManager.default.fileExists(atPath: checkpoint)
                ? "the last good checkpoint is '\(checkpoint)'" : "no checkpoint had been written yet"
            return "training diverged at step \(step): the \(loss) loss is \(value); stopped, \(kept) (try a lower --lr)"
        }
    }
}
