import ArgumentParser
import Cluster
import Layers
import Pipeline

/// `melforge classifier ...`: the judge that `evaluate` and `steer` use.
struct ClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "Train the classifier that judges generated clips or images (for evaluate and steer).",
        subcommands: [ClassifierTrainCommand.self])
}

struct ClassifierDefaults: TrainingDefaults {
    static let learningRate: Float = 1e-3
    static let minimumBatchSize = 1
    static let seedHelp = "Seed of the weights, the split and the batches."
    static let resumeHelp = "Continue the training saved in --output (written after every epoch) instead of starting again."
}

struct ClassifierTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a small convolutional classifier on labelled clips (as log-mel images) or images.",
        discussion: """
            Labels come from each file's parent folder (or an IDX labels file). The data are read \
            as 'melforge train' reads them: audio as log-mel images (64x64 by default) normalised \
            over the top 80 dB of the set. A seeded share (--held-out: whole speakers when known, \
            else files class by class) or named speakers are kept out of training to measure \
            accuracy, which is printed and stored in the \
            classifier. The classifier file (safetensors) keeps the front end and the \
            normalisation, so that 'melforge evaluate' reads generated audio the same way and \
            refuses a generator made with other settings.
            """)

    @OptionGroup(title: "Data")
    var source: DataOptions

    @Option(name: .shortAndLong, help: "The classifier file to write (.safetensors).")
    var output: String

    @Option(help: "Passes over the training share.")
    var epochs = 15

    @OptionGroup(title: "Training")
    var training: TrainingOptions<ClassifierDefaults>

    @OptionGroup(title: "Engine")
    var engine: EngineOptions

    @Option(help: ArgumentHelp(ClassifierSession.heldOutHelp)) var heldOut = "0.2"

    @Option(help: "Shift training images by up to this many columns (frames) either way, so that where a word starts does not matter (default: 6 for audio, 0 for images).")
    var maxShift: Int?

    @Flag(help: "Warp the training images' bands by up to 10%, tilt them by up to 4 dB and silence a run of bands and one of frames (vocal tract length and microphone perturbation, SpecAugment), so that the judge hears the word rather than the few voices it trains on.")
    var augment = false

    @Option(help: "Feature widths from the image inwards, comma-separated (default: 16 doubling per stage).")
    var widths: String?

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs \(epochs) is not accepted; expected 1 or more") }
        _ = try ClassifierSession.heldOut(heldOut)
        if let maxShift, maxShift < 0 { throw ValidationError("--max-shift \(maxShift) is not accepted; expected 0 or more") }
        try validateWidths(widths)
    }

    func run() throws {
        Preemption.catchSignals()  // SIGTERM, SIGINT: stop at the next safe point, keeping the work
        // Under mpirun or srun: one of several processes, each on its share of every batch.
        _ = try MPIWorld.joinIfLaunched()
        let convolutions = engine.apply()
        var settings = ClassifierSession.Settings()
        (settings.batchSize, settings.learningRate, settings.seed) = (training.batchSize, training.lr, training.seed)
        ((settings.heldOut, settings.heldOutSpeakers), settings.maxShift) = (try ClassifierSession.heldOut(heldOut), maxShift)
        settings.augment = augment
        (settings.widths, settings.widthsOption) = (widths.flatMap(ModelShape.parseWidths), widths)
        let report = { (line: String) in if Replicas.isFirst { print(line) } }
        let session = try ClassifierSession(data: try source.source.load(report: report), source: source.source, output: output,
                                            resume: training.resume, settings: settings)
        if session.resumed { report("resuming \(output) after epoch \(session.training.epoch)") }
        report("convolutions: \(convolutions)")
        let t = session.training
        report(session.splitSummary)
        let accuracy = try session.train(epochs: epochs)
        let heldOutText = accuracy.heldOut.map {
            String(format: "held-out accuracy %.1f%% (%d files, split by %@ with seed %llu)", 100 * $0,
                   t.heldOutIndices.count, session.splitKind, training.seed)
        } ?? "nothing held out"
        report("\(output): \(heldOutText); training accuracy \(String(format: "%.1f%%", 100 * accuracy.train))")
    }
}
