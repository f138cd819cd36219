import ArgumentParser
import Foundation
import Cluster
import Layers
import NeuralVocoder
import Pipeline

extension AdversarialConfiguration.Loss: ExpressibleByArgument {}

struct VocoderDefaults: TrainingDefaults {
    static let learningRate: Float = 1e-3
    static let batchSize = 16
    static let minimumBatchSize = 1
    static let seedHelp = "Seed of the weights and of the segments drawn."
    static let resumeHelp = "Continue the run in --out from its last checkpoint."
}

struct TrainVocoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vocoder",
        abstract: "Train a learned vocoder: log-mel features -> spectrum (magnitude and phase) -> inverse STFT.",
        discussion: VocoderRequest.help)

    @Option(help: "A folder of audio clips (searched recursively).")
    var data: String

    @Option(help: "The run's folder.")
    var out: String

    @Option(help: "Training steps.")
    var steps = 2_000

    @Option(help: "Frames per training segment.")
    var segmentFrames = 32

    @OptionGroup(title: "Training")
    var training: TrainingOptions<VocoderDefaults>

    @Option(help: "The network's width (channels per frame).")
    var width = 128

    @Option(help: "ConvNeXt blocks.")
    var blocks = 4

    @Option(help: "Weight of the phase losses (0 leaves the phase to the losses on the sound).")
    var phaseWeight: Float = 1

    @Flag(inversion: .prefixedNo, help: "Train against discriminators (multi-period and multi-resolution, HiFi-GAN and Vocos's recipe; the default for a new run; a resumed run keeps its own unless told).")
    var adversarial: Bool?

    @Option(help: "The discriminators' learning rate (default 2e-4).") var lrD: Float?
    @Option(help: "The discriminators' loss: hinge (default) or least-squares.") var adversarialLoss: AdversarialConfiguration.Loss?
    @Option(help: "Weight of the log-mel L1 (default 45 with discriminators, 1 with --no-adversarial).") var melWeight: Float?

    @Option(help: "Also train on every clip at these speeds, comma-separated (0.9,1.1): more voices from the speakers there are.") var speedPerturb: String?

    @Option(help: "Save a checkpoint, the loss curve and the samples every this many steps.")
    var checkpointEvery = 200

    @Option(help: "Write a log line every this many steps.")
    var logEvery = 10

    @OptionGroup(title: "Front end")
    var frontEnd: FrontEndOptions

    func validate() throws {
        for (name, value, least) in [("--steps", steps, 1), ("--segment-frames", segmentFrames, 2),
                                     ("--width", width, 4), ("--blocks", blocks, 1), ("--checkpoint-every", checkpointEvery, 1),
                                     ("--log-every", logEvery, 1)] where value < least {
            throw ValidationError("\(name) \(value) is not accepted; expected \(least) or more")
        }
        for (name, value) in [("--phase-weight", phaseWeight), ("--mel-weight", melWeight ?? 0), ("--lr-d", lrD ?? 1)]
            where !(value >= 0 && value.isFinite) || (name == "--lr-d" && value == 0) {
            throw ValidationError("\(name) \(value) is not accepted; expected \(name == "--lr-d" ? "above 0" : "0 or more")")
        }
        _ = try speedPerturb.map(VocoderRequest.speeds(from:))
    }

    func run() throws {
        Preemption.catchSignals()  // SIGTERM, SIGINT: stop at the next safe point, keeping the work
        _ = try MPIWorld.joinIfLaunched()
        var request = VocoderRequest(frontEnd: frontEnd.configuration(defaultBands: AudioImaging.defaultFrontEnd.nMels))
        (request.width, request.blocks, request.segmentFrames) = (width, blocks, segmentFrames)
        (request.batchSize, request.learningRate, request.seed) = (training.batchSize, training.lr, training.seed)
        request.weights.phase = phaseWeight
        try request.setAdversarial(adversarial, learningRate: lrD, loss: adversarialLoss, melWeight: melWeight)
        request.speeds = try speedPerturb.map(VocoderRequest.speeds(from:))
        let first = Replicas.isFirst
        let session = try VocoderTrainingSession(folder: out, data: data, request: request, resume: training.resume,
                                                 report: { if first { print($0) } },
                                                 warn: { message in if first { FileHandle.standardError.write(Data((message + "\n").utf8)) } })
        if session.resumed && first { print("resuming \(out) at step \(session.trainer.step)") }
        if let note = dataParallelNote(batch: training.batchSize, unit: "segments"), first { print(note) }
        var schedule = VocoderTrainingSession.Schedule()
        (schedule.steps, schedule.checkpointEvery, schedule.logEvery) = (steps, checkpointEvery, logEvery)
        let summary = try session.train(schedule)
        if first { print(summary) }
    }
}
