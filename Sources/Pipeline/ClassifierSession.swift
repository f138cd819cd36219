import FileFormats
import Foundation
import Layers
import Training

/// `melforge classifier train`: the judge of `evaluate` and `steer`, trained on labelled
/// data, saved after every epoch (with its held-out accuracy and, for audio, the contract of
/// its images) and resumable.
public final class ClassifierSession {
    public let training: ClassifierTraining
    public let classes: [String]
    public let output: String
    public let resumed: Bool

    public struct Settings {
        public var batchSize = 64
        public var learningRate: Float = 1e-3
        public var seed: UInt64 = 0
        public var heldOut = 0.2
        /// Speakers held out by name (`--held-out NAME,NAME`), instead of a share.
        public var heldOutSpeakers: [String]?
        /// nil: 6 frames for audio, 0 for pictures.
        public var maxShift: Int?
        /// Warp, tilt and mask the training images (`--augment`).
        public var augment = false
        public var widths: [Int]?
        /// The --widths text, for errors.
        public var widthsOption: String?
        public init() {}
    }

    public init(data: LabelledImages, source: DataSource, output: String, resume: Bool, settings: Settings) throws {
        let images = data.images
        let (labels, classes) = try source.classLabels(data.folderLabels, count: images.shape[0], for: "a classifier")
        let size = images.shape[2]
        guard images.shape[3] == size else { throw UsageError("images must be square; got \(images.shape[2])x\(images.shape[3])") }
        let widths = try ModelShape.widths(settings.widths, imageSize: size, first: 16, option: settings.widthsOption)
        var configuration = ClassifierConfiguration(channels: images.shape[1], imageSize: size, widths: widths, classes: classes)
        configuration.batchSize = settings.batchSize
        configuration.learningRate = settings.learningRate
        configuration.seed = settings.seed
        configuration.heldOut = settings.heldOut
        configuration.maxShift = settings.maxShift ?? (data.imaging != nil ? 6 : 0)
        if settings.augment { configuration.augmentation = ClassifierAugmentation(bands: size, frames: size) }
        var metadata = ["data": source.path]
        if let imaging = data.imaging { metadata.merge(imaging.metadata) { $1 } }
        // With speakers known, whole speakers are held out (a judge measured on voices it
        // never heard); otherwise files, class by class.
        var heldOut: [Int]?
        if let named = settings.heldOutSpeakers {
            guard let speakers = data.speakers else {
                throw UsageError("--held-out \(named.joined(separator: ",")) names speakers; give --layout (speech-commands, fsdd or vctk) or --speaker-pattern so that each clip's speaker is known")
            }
            let known = Set(speakers)
            if let missing = named.first(where: { !known.contains($0) }) {
                throw UsageError("--held-out: speaker '\(missing)' has no clip in '\(source.path)' (speakers: \(known.sorted().joined(separator: ", ")))")
            }
            guard !known.subtracting(named).isEmpty else {
                throw UsageError("--held-out \(named.joined(separator: ",")) holds out every speaker; nothing would be left to train on")
            }
        }
        if let speakers = data.speakers, settings.heldOut > 0 || settings.heldOutSpeakers != nil {
            let chosen = settings.heldOutSpeakers.map(Set.init)
                ?? SpeakerSplit.heldOut(speakers: speakers, fraction: settings.heldOut, seed: settings.seed)
            heldOut = speakers.indices.filter { chosen.contains(speakers[$0]) }
            metadata["split"] = "speaker"
            metadata["held_out_speakers"] = chosen.sorted().joined(separator: ",")
            metadata["train_speakers"] = Set(speakers).subtracting(chosen).sorted().joined(separator: ",")
        } else {
            metadata["split"] = "file"
        }
        training = ClassifierTraining(configuration: configuration, images: images, labels: labels, metadata: metadata,
                                      heldOut: heldOut)
        self.classes = classes
        self.output = output
        // One writer per classifier file (in a data-parallel job the first process writes).
        if Replicas.isFirst, isDirectory(URL(fileURLWithPath: output).deletingLastPathComponent().path) {
            try OutputLock.hold(OutputLock.file(beside: output), for: output, command: OutputLock.thisCommand)
        }
        resumed = resume && FileManager.default.fileExists(atPath: output)
        if resumed { try training.restore(from: output) }
    }

    /// `--held-out`: a share (by speaker when speakers are known, else by file), or speakers by name.
    public static func heldOut(_ text: String) throws -> (share: Double, speakers: [String]?) {
        if let share = Double(text) {
            guard share >= 0 && share < 1 else { throw UsageError("--held-out \(text) is not accepted; expected a fraction in [0, 1) or speaker names separated by commas") }
            return (share, nil)
        }
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw UsageError("--held-out '\(text)' is not accepted; expected a fraction in [0, 1) or speaker names separated by commas") }
        return (0, names)
    }

    public static let heldOutHelp = "The share held out to measure accuracy: whole speakers when the clips' speakers are known (--layout, --speaker-pattern), else files class by class; or speakers by name, separated by commas (george,jackson). 0 trains on everything."

    /// "10 classes (zero, ...): 2000 to train on, 1000 held out: the speakers george, jackson"
    /// (or "..., by file, class by class"; seed in both).
    /// "speaker" or "file".
    public var splitKind: String { training.classifier.metadata["split"] ?? "file" }

    public var splitSummary: String {
        let (t, metadata) = (training, training.classifier.metadata)
        let how = metadata["split"] == "speaker"
            ? "the speakers \(metadata["held_out_speakers"]?.replacingOccurrences(of: ",", with: ", ") ?? "") (no speaker on both sides)"
            : "by file, class by class (no speakers known: --layout or --speaker-pattern names them)"
        return "\(classes.count) classes (\(classes.joined(separator: ", "))): \(t.trainIndices.count) to train on, \(t.heldOutIndices.count) held out"
            + (t.heldOutIndices.isEmpty ? "" : ": " + how) + " (seed \(t.configuration.seed))"
    }

    /// Trains to `epochs` with a progress line; returns the last accuracies. In a
    /// data-parallel job every process trains and the first alone reports and writes.
    public func train(epochs: Int) throws -> (train: Double, heldOut: Double?) {
        let writes = Replicas.isFirst
        let progress = writes ? ProgressBar(total: epochs, label: "classifier", unit: "epochs") : nil
        var accuracy = training.accuracies()
        while training.epoch < epochs {
            let loss = training.trainEpoch()
            accuracy = training.accuracies()
            progress?.update(training.epoch, note: String(format: "loss %.3f  train %.1f%%", loss, 100 * accuracy.train)
                + (accuracy.heldOut.map { String(format: "  held out %.1f%%", 100 * $0) } ?? ""))
            // The accuracies travel with the classifier, so that evaluate can show how far to trust it.
            if writes {
                try training.save(to: output, metadata: [
                    "train_accuracy": String(accuracy.train), "held_out_accuracy": accuracy.heldOut.map { String($0) } ?? "",
                    "held_out_count": String(training.heldOutIndices.count)])
            }
            // Stopping is checked between epochs (the classifier is saved at each).
            if let stop = Preemption.agreed(), training.epoch < epochs {
                progress?.finish()
                throw Preempted(signal: stop, kept: "classifier after epoch \(training.epoch) of \(epochs) written to '\(output)'",
                                resume: "run the same command with --resume")
            }
        }
        progress?.finish()
        return accuracy
    }
}
