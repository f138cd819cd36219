import ArgumentParser
import Cluster
import Layers
import Models
import Pipeline
import Training

struct GeneratorDefaults: TrainingDefaults {
    static let learningRate: Float = 2e-4
    static let minimumBatchSize = 1
    static let seedHelp = "Seed of the weights, the batches and the latents."
    static let resumeHelp = "Continue the run in --out from its last checkpoint."
}

/// `melforge train`: a generative model (`train gan|vae ...`, the default) or a vocoder
/// (`train vocoder ...`).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a generative model (gan, vae) or a learned vocoder.",
        discussion: """
            melforge train gan|vae --data DIR --out RUN ...: a convolutional GAN or VAE on log-mel \
            images of audio clips, or on images ('melforge train model --help' for its options).
            melforge train vocoder --data DIR --out RUN ...: a learned vocoder on audio clips \
            ('melforge train vocoder --help').
            """,
        subcommands: [TrainModelCommand.self, TrainVocoderCommand.self],
        defaultSubcommand: TrainModelCommand.self)
}

struct TrainModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Train a convolutional GAN or VAE on audio clips (as log-mel images) or on images.",
        discussion: """
            --data DIR: every audio file under DIR, cut or padded to --frames frames (16,128 samples \
            at 16 kHz by default) and turned into a log-mel image by the front-end flags (64 bands \
            x 64 frames by default), normalised to [-1, 1] over the top 80 dB of the whole set \
            (the front end and the range are stored in the checkpoint). DIR may also hold \
            'melforge spectrogram' .npy files with their JSON, or be the output of \
            'melforge convert' (.npy files or shards), made with the same front-end flags. \
            --images PATH: an MNIST IDX file (plain or .gz) or a folder of PNGs.

            RUN_DIR receives checkpoint.safetensors (weights, Adam's state, random state, configuration; \
            written atomically every --checkpoint-every steps), log.jsonl, samples.png (a grid from fixed \
            latents), losses.svg, and for audio samples/sample-N.npy with their JSON ('melforge invert' \
            makes them WAV files). --resume continues a killed run exactly; a NaN or infinite loss stops \
            training and keeps the last good checkpoint.
            """)

    @Argument(help: ArgumentHelp("The model: \(ModelRegistry.kinds.map(\.rawValue).joined(separator: " or ")).", valueName: "model"))
    var model: TrainingConfiguration.Model

    @OptionGroup(title: "Data")
    var source: DataOptions

    @Option(help: "The run's folder.")
    var out: String

    @Option(help: "Training steps (one batch each).")
    var steps: Int?

    @Option(help: "Passes over the data (instead of --steps).")
    var epochs: Int?

    @OptionGroup(title: "Training")
    var training: TrainingOptions<GeneratorDefaults>

    @OptionGroup(title: "Engine")
    var engine: EngineOptions

    @Option(help: "GAN loss: hinge (with spectral normalisation; the default for --data) or bce (the default for --images).")
    var loss: GANLoss?

    @Option(help: "The VAE's KL weight (beta).")
    var beta: Float = 1

    @Option(help: "The VAE's KL warm-up: the KL weight rises linearly from 0 to --beta over this many steps.")
    var klWarmup = 1_000

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

    @Option(help: "A classifier from 'melforge classifier train' on data like these: evaluates the model every --eval-every steps (Inception score, Frechet distance to the training data, label entropy, |D|self of --eval-count samples, from the spectrograms without vocoding), logged with the losses and drawn in scores.svg.")
    var classifier: String?

    @Option(help: "With --classifier: evaluate every this many steps (default: --checkpoint-every).")
    var evalEvery: Int?

    @Option(help: "With --classifier: samples drawn per evaluation.")
    var evalCount = 256

    @Option(help: ArgumentHelp(ModelRequest.help.ema)) var ema: Float?
    @Flag(help: ArgumentHelp(ModelRequest.help.augment)) var augment = false
    @Option(name: .customLong("lr-d"), help: ArgumentHelp(ModelRequest.help.lrD)) var lrD: Float?

    func validate() throws {
        guard (steps == nil) || (epochs == nil) else { throw ValidationError("give --steps or --epochs, not both") }
        if let steps, steps < 1 { throw ValidationError("--steps \(steps) is not accepted; expected 1 or more") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs \(epochs) is not accepted; expected 1 or more") }
        guard checkpointEvery >= 1, logEvery >= 1 else {
            throw ValidationError("--checkpoint-every and --log-every must be 1 or more")
        }
        if let evalEvery, evalEvery < 1 { throw ValidationError("--eval-every \(evalEvery) is not accepted; expected 1 or more") }
        guard evalCount >= 10 else { throw ValidationError("--eval-count \(evalCount) is not accepted; expected 10 or more (the Inception score takes 10 splits)") }
        if classifier == nil && evalEvery != nil { throw ValidationError("--eval-every needs --classifier") }
        try validateWidths(widths)
    }

    func run() throws {
        Preemption.catchSignals()  // SIGTERM, SIGINT: stop at the next safe point, keeping the work
        // Under mpirun or srun: one of several processes, each on its share of every batch.
        _ = try MPIWorld.joinIfLaunched()
        let convolutions = engine.apply()
        let data = try source.source.load(report: { if Replicas.isFirst { print($0) } })
        let labels = try conditional
            ? source.source.classLabels(data.folderLabels, count: data.images.shape[0], for: "--conditional") : nil
        var request = ModelRequest(kind: model, batchSize: training.batchSize, learningRate: training.lr, seed: training.seed)
        (request.latentSize, request.widths, request.widthsOption) = (latentSize, widths.flatMap(ModelShape.parseWidths), widths)
        (request.loss, request.beta, request.klWarmup) = (loss, beta, klWarmup)
        (request.ema, request.augment, request.discriminatorLearningRate) = (ema, augment, lrD)
        let session = try GeneratorTraining(folder: out, data: data, dataPath: source.source.path,
                                            labels: labels.map { (indices: $0.0, classes: $0.1) }, resume: training.resume,
                                            request: request)
        if session.resumed && Replicas.isFirst { print("resuming \(out) at step \(session.run.step)") }
        if Replicas.isFirst { print("convolutions: \(convolutions)") }
        if let note = dataParallelNote(batch: training.batchSize, unit: "images"), Replicas.isFirst { print(note) }
        var schedule = GeneratorTraining.Schedule()
        (schedule.steps, schedule.epochs, schedule.checkpointEvery, schedule.logEvery) = (steps, epochs, checkpointEvery, logEvery)
        (schedule.classifier, schedule.evaluateEvery, schedule.evaluationCount) = (classifier, evalEvery, evalCount)
        let summary = try session.train(schedule, metadata: ["precision": engine.chosenPrecision.rawValue,
                                                             "convolutions": "\(convolutions)"])
        if Replicas.isFirst { print(summary) }
    }
}
