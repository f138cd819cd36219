import FileFormats
import Foundation
import Layers
import Models
import Optimizers
import Tensors

/// What a classifier is and how it was trained: everything needed to rebuild it from its file.
public struct ClassifierConfiguration: Codable, Equatable, Sendable {
    public var channels: Int
    public var imageSize: Int
    public var widths: [Int]
    public var embeddingSize = 128
    public var kernelSize = 5
    /// Class names: label i is classes[i].
    public var classes: [String]
    public var batchSize = 64
    public var learningRate: Float = 1e-3
    /// Training images are shifted along their last axis (time, for a spectrogram) by up to
    /// this many columns either way, the gap filled with -1 (silence), so that the judge does
    /// not care where in the clip a word starts.
    public var maxShift = 0
    /// Warps, tilts and masks of the training images (`--augment`); nil: none. (Optional, so
    /// that classifiers saved before it existed still load.)
    public var augmentation: ClassifierAugmentation?
    /// The share of each class held out to measure accuracy.
    public var heldOut = 0.2
    public var seed: UInt64 = 0

    public init(channels: Int, imageSize: Int, widths: [Int], classes: [String]) {
        self.channels = channels
        self.imageSize = imageSize
        self.widths = widths
        self.classes = classes
    }
}

/// A trained classifier and the metadata saved with it (for audio: the front end and the
/// normalisation that made its input images).
public final class TrainedClassifier {
    public static let format = "melforge-classifier/1"
    public let configuration: ClassifierConfiguration
    public let metadata: [String: String]
    public let model: Classifier

    public init(configuration: ClassifierConfiguration, model: Classifier, metadata: [String: String]) {
        self.configuration = configuration
        self.model = model
        self.metadata = metadata
    }

    /// Loads a file written by `save`; another file (a generator's checkpoint, a malformed
    /// file) is a clear error naming it.
    public init(contentsOf path: String) throws {
        let file = try SafeTensors.read(path)
        guard file.metadata["format"] == Self.format, let text = file.metadata["classifier"],
              let configuration = try? JSONDecoder().decode(ClassifierConfiguration.self, from: Data(text.utf8))
        else {
            throw CheckpointError.missingTensor(path: path, name: "__metadata__ classifier (not a MelForge classifier; make one with 'melforge classifier train')")
        }
        var unused = RandomNumbers(seed: 0)
        let model = Classifier(channels: configuration.channels, imageSize: configuration.imageSize,
                               widths: configuration.widths, embeddingSize: configuration.embeddingSize,
                               classes: configuration.classes.count, kernelSize: configuration.kernelSize,
                               random: &unused)
        try Checkpoint.restore(model, prefix: "classifier", from: file, path: path)
        self.configuration = configuration
        self.model = model
        metadata = file.metadata
    }

    /// Writes the weights, the configuration and `metadata` atomically.
    public func save(to path: String) throws {
        var all = metadata
        all["format"] = Self.format
        all["classifier"] = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
        try Checkpoint.save([("classifier", model)], metadata: all, to: path)
    }

    /// Class probabilities `[N, K]` and embeddings `[N, E]` of images `[N, C, S, S]` in [-1, 1].
    public func judge(_ images: Tensor) -> (probabilities: Tensor, embeddings: Tensor) {
        let (logits, embeddings) = model.evaluate(images)
        return (Loss.softmax(logits), embeddings)
    }

    /// The fraction of `images` whose most probable class is their label.
    public func accuracy(_ images: Tensor, labels: [Int]) -> Double {
        guard !labels.isEmpty else { return 0 }
        let p = judge(images).probabilities
        let k = configuration.classes.count
        let correct = labels.indices.filter { row in
            let slice = p.values[(row * k)..<((row + 1) * k)]
            return slice.indices.max { slice[$0] < slice[$1] }! - row * k == labels[row]
        }.count
        return Double(correct) / Double(labels.count)
    }
}

/// Trains a classifier on labelled images, holding out a seeded share of each class.
public final class ClassifierTraining {
    public let configuration: ClassifierConfiguration
    public let classifier: TrainedClassifier
    public let trainIndices: [Int]
    public let heldOutIndices: [Int]
    let images: Tensor
    let labels: [Int]
    let optimizer: Adam
    var random: RandomNumbers
    public private(set) var epoch = 0

    /// - Parameters:
    ///   - images: `[N, C, S, S]` in [-1, 1], one per file.
    ///   - labels: each image's class index into `configuration.classes`.
    ///   - heldOut: the images to hold out, when the split is not by file (by speaker: a
    ///     `SpeakerSplit`); nil for `split`'s.
    public init(configuration: ClassifierConfiguration, images: Tensor, labels: [Int], metadata: [String: String] = [:],
                heldOut chosen: [Int]? = nil) {
        precondition(images.shape[0] == labels.count, "ClassifierTraining: \(labels.count) labels for \(images.shape[0]) images")
        self.configuration = configuration
        self.images = images
        self.labels = labels
        var weights = RandomNumbers(seed: configuration.seed)
        let model = Classifier(channels: configuration.channels, imageSize: configuration.imageSize,
                               widths: configuration.widths, embeddingSize: configuration.embeddingSize,
                               classes: configuration.classes.count, kernelSize: configuration.kernelSize, random: &weights)
        classifier = TrainedClassifier(configuration: configuration, model: model, metadata: metadata)
        optimizer = Adam(parameters: model.parameters, learningRate: configuration.learningRate, beta1: 0.9)
        if let chosen {
            let held = Set(chosen)
            (trainIndices, heldOutIndices) = (labels.indices.filter { !held.contains($0) }, chosen.sorted())
        } else {
            (trainIndices, heldOutIndices) = Self.split(labels: labels, classes: configuration.classes.count,
                                                        heldOut: configuration.heldOut, seed: configuration.seed)
        }
        random = RandomNumbers(seed: configuration.seed &+ 1)
    }

    /// A seeded split by file, class by class: round(heldOut x n_c) of each class's n_c files
    /// (at least one when the class has two or more) are held out, the rest train. The same
    /// labels and seed give the same split on every machine.
    public static func split(labels: [Int], classes: Int, heldOut fraction: Double, seed: UInt64) -> (train: [Int], heldOut: [Int]) {
        var split = RandomNumbers(seed: seed ^ 0x5EED_0F_5971_7000)
        var train: [Int] = [], heldOut: [Int] = []
        for label in 0..<classes {
            var members = labels.indices.filter { labels[$0] == label }
            split.shuffle(&members)
            let count = fraction > 0 && members.count >= 2 ? max(1, Int((fraction * Double(members.count)).rounded())) : 0
            heldOut += members.prefix(count)
            train += members.dropFirst(count)
        }
        return (train.sorted(), heldOut.sorted())
    }

    /// One pass over the training share in shuffled batches; returns the mean loss. In a
    /// data-parallel job (`Replicas`) every process draws the whole batch's shifts and dropout
    /// and trains on its rows of it, and the gradients are summed before each update.
    @discardableResult
    public func trainEpoch() -> Float {
        var order = trainIndices
        random.shuffle(&order)
        let model = classifier.model
        var total: Float = 0, batches = 0
        for start in stride(from: 0, to: order.count, by: configuration.batchSize) {
            let batchRows = Array(order[start..<min(order.count, start + configuration.batchSize)])
            let share = BatchShare.mine(of: batchRows.count)
            let rows = share.rows(of: batchRows)
            let batch = share.rows(of: augmented(shifted(select(batchRows))))
            model.zeroGradients()
            let (logits, _, cache) = model.forward(batch, training: true, share: share, random: &random)
            var (loss, gradient) = Loss.softmaxCrossEntropy(logits, labels: rows.map { labels[$0] })
            model.backward(gradient.scaled(by: share.weight), cache: cache, inputGradient: false)
            Replicas.sumGradients(model.parameters)
            optimizer.update()
            if Replicas.reducer != nil { loss = Float(Replicas.sum([Double(loss * share.weight)])[0]) }
            total += loss
            batches += 1
        }
        epoch += 1
        return total / Float(max(1, batches))
    }

    /// Writes the classifier with what continues its training (Adam's state, the epoch, the
    /// random state) and `metadata`, atomically: after every epoch, so that a killed run leaves
    /// a usable classifier and `restore` picks up from it.
    public func save(to path: String, metadata extra: [String: String]) throws {
        var metadata = classifier.metadata.merging(extra) { $1 }.merging(RunState.metadata("epoch", epoch, random: random)) { $1 }
        metadata["format"] = TrainedClassifier.format
        metadata["classifier"] = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
        let state = RunState.optimizerTensors(optimizer, of: classifier.model, prefix: "optimizer")
        try Checkpoint.save([("classifier", classifier.model)], extra: state, metadata: metadata, to: path)
    }

    /// Continues from a file `save` wrote for the same configuration.
    public func restore(from path: String) throws {
        let file = try SafeTensors.read(path)
        guard let text = file.metadata["classifier"],
              let saved = try? JSONDecoder().decode(ClassifierConfiguration.self, from: Data(text.utf8)), saved == configuration
        else {
            throw CheckpointError.missingTensor(path: path, name: "__metadata__ classifier (another configuration: resume with the same data and options)")
        }
        let (savedEpoch, restored) = try RunState.counter("epoch", from: file, path: path)
        try Checkpoint.restore(classifier.model, prefix: "classifier", from: file, path: path)
        try RunState.restoreOptimizer(optimizer, of: classifier.model, prefix: "optimizer", from: file, path: path)
        epoch = savedEpoch
        random = restored
    }

    /// Accuracy on the training share and on the held-out share (nil when nothing is held out).
    public func accuracies() -> (train: Double, heldOut: Double?) {
        let train = classifier.accuracy(select(trainIndices), labels: trainIndices.map { labels[$0] })
        guard !heldOutIndices.isEmpty else { return (train, nil) }
        return (train, classifier.accuracy(select(heldOutIndices), labels: heldOutIndices.map { labels[$0] }))
    }

    func select(_ rows: [Int]) -> Tensor {
        let per = images.count / images.shape[0]
        var values = [Float](); values.reserveCapacity(rows.count * per)
        for row in rows { values += images.values[(row * per)..<((row + 1) * per)] }
        return Tensor(shape: [rows.count] + images.shape.dropFirst(), values: values)
    }

    /// The batch through `configuration.augmentation`, when there is one.
    func augmented(_ batch: Tensor) -> Tensor {
        guard let augmentation = configuration.augmentation else { return batch }
        let draws = augmentation.draw(count: batch.shape[0], bands: batch.shape[2], frames: batch.shape[3], random: &random)
        return augmentation.apply(batch, draws: draws)
    }

    /// Each image moved by a random whole number of columns in -maxShift...maxShift.
    func shifted(_ batch: Tensor) -> Tensor {
        guard configuration.maxShift > 0 else { return batch }
        var out = batch
        let (n, c, h, w) = (batch.shape[0], batch.shape[1], batch.shape[2], batch.shape[3])
        for image in 0..<n {
            let shift = Int(random.next() % UInt64(2 * configuration.maxShift + 1)) - configuration.maxShift
            for row in 0..<(c * h) {
                let base = (image * c * h + row) * w
                for x in 0..<w {
                    let source = x - shift
                    out.values[base + x] = (0..<w).contains(source) ? batch.values[base + source] : -1
                }
            }
        }
        return out
    }
}
