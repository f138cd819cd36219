import ArgumentParser
import FileFormats
import Foundation
import Tensors
import Training

/// `melforge classifier ...`: the judge that `evaluate` and `steer` use.
struct ClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "Train the classifier that judges generated clips or images (for evaluate and steer).",
        subcommands: [ClassifierTrainCommand.self])
}

struct ClassifierTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a small convolutional classifier on labelled clips (as log-mel images) or images.",
        discussion: """
            Labels come from each file's parent folder (or an IDX labels file). The data are read \
            as 'melforge train' reads them: audio as 64x64 log-mel images normalised over the \
            top 80 dB of the set. A seeded share of each class (--held-out, split by file) is \
            kept out of training to measure accuracy, which is printed and stored in the \
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

    @Option(help: "Images per step.")
    var batchSize = 64

    @Option(help: "Adam's learning rate.")
    var lr: Float = 1e-3

    @Option(help: "Seed of the weights, the split and the batches.")
    var seed: UInt64 = 0

    @Option(help: "The share of each class held out to measure accuracy (0 to train on everything).")
    var heldOut = 0.2

    @Option(help: "Shift training images by up to this many columns (frames) either way, so that where a word starts does not matter (default: 6 for audio, 0 for images).")
    var maxShift: Int?

    @Option(help: "Feature widths from the image inwards, comma-separated (default: 16 doubling per stage).")
    var widths: String?

    @Flag(help: "Continue the training saved in --output (written after every epoch) instead of starting again.")
    var resume = false

    func validate() throws {
        try source.validate()
        guard epochs >= 1 else { throw ValidationError("--epochs \(epochs) is not accepted; expected 1 or more") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size \(batchSize) is not accepted; expected 1 or more") }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr \(lr) is not accepted; expected a positive number") }
        guard heldOut >= 0 && heldOut < 1 else {
            throw ValidationError("--held-out \(heldOut) is not accepted; expected a fraction in [0, 1)")
        }
        if let maxShift, maxShift < 0 { throw ValidationError("--max-shift \(maxShift) is not accepted; expected 0 or more") }
        if let widths, parseWidths(widths) == nil {
            throw ValidationError("--widths '\(widths)' is not accepted; expected positive integers separated by commas")
        }
    }

    func run() throws {
        let (images, normalization, folderLabels) = try source.load()
        let (labels, classes) = try source.classLabels(folderLabels, count: images.shape[0], for: "a classifier")
        let size = images.shape[2]
        guard images.shape[3] == size else { throw CommandError("images must be square; got \(images.shape[2])x\(images.shape[3])") }
        guard let chosen = widths.flatMap(parseWidths) ?? defaultWidths(imageSize: size, first: 16),
              (size >> chosen.count) >= 2, (size >> chosen.count) << chosen.count == size
        else {
            throw CommandError("image side \(size) is not B * 2^k with B >= 2 for \(widths.map { "--widths \($0)" } ?? "any stage count"); use 28, 32, 56, 64, ...")
        }
        var configuration = ClassifierConfiguration(channels: images.shape[1], imageSize: size, widths: chosen, classes: classes)
        configuration.batchSize = batchSize
        configuration.learningRate = lr
        configuration.seed = seed
        configuration.heldOut = heldOut
        configuration.maxShift = maxShift ?? (normalization != nil ? 6 : 0)

        var metadata = ["data": source.path]
        if let normalization {
            metadata["normalization"] = String(decoding: try JSONEncoder().encode(normalization), as: UTF8.self)
            metadata["front_end"] = String(decoding: try JSONEncoder().encode(DataOptions.frontEnd), as: UTF8.self)
        }
        let training = ClassifierTraining(configuration: configuration, images: images, labels: labels, metadata: metadata)
        if resume && FileManager.default.fileExists(atPath: output) {
            try training.restore(from: output)
            print("resuming \(output) after epoch \(training.epoch)")
        }
        print("\(classes.count) classes (\(classes.joined(separator: ", "))): \(training.trainIndices.count) to train on, \(training.heldOutIndices.count) held out (seed \(seed))")
        let progress = ProgressBar(total: epochs, label: "classifier", unit: "epochs")
        var accuracy = training.accuracies()
        while training.epoch < epochs {
            let loss = training.trainEpoch()
            accuracy = training.accuracies()
            progress.update(training.epoch, note: String(format: "loss %.3f  train %.1f%%", loss, 100 * accuracy.train)
                + (accuracy.heldOut.map { String(format: "  held out %.1f%%", 100 * $0) } ?? ""))
            // The accuracies travel with the classifier, so that evaluate can show how far to trust it.
            try training.save(to: output, metadata: [
                "train_accuracy": String(accuracy.train), "held_out_accuracy": accuracy.heldOut.map { String($0) } ?? "",
                "held_out_count": String(training.heldOutIndices.count)])
        }
        progress.finish()
        let heldOutText = accuracy.heldOut.map {
            String(format: "held-out accuracy %.1f%% (%d files, split by file with seed %llu)", 100 * $0,
                   training.heldOutIndices.count, seed)
        } ?? "nothing held out"
        print("\(output): \(heldOutText); training accuracy \(String(format: "%.1f%%", 100 * accuracy.train))")
    }
}

/// 32 (or `first`) doubling per stage, at most 256, for as many stages as halve the image down
/// to 4..7 pixels; nil when the side cannot be halved so.
func defaultWidths(imageSize: Int, first: Int = 32) -> [Int]? {
    var stages = 0
    while (imageSize >> (stages + 1)) >= 4 && (imageSize >> (stages + 1)) << (stages + 1) == imageSize { stages += 1 }
    return stages == 0 ? nil : (0..<stages).map { min(256, first << $0) }
}

/// "32,64,128" -> [32, 64, 128]; nil unless every part is a positive integer.
func parseWidths(_ text: String) -> [Int]? {
    let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
    return parts.map { $0! }
}
