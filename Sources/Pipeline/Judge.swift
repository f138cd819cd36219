import AudioIO
import Evaluation
import FileFormats
import Foundation
import Spectral
import Tensors
import Training

/// A trained classifier as the judge of a set of generated clips or images: its input
/// (audio through its front end, or pictures) and the scores of a set.
public struct Judge {
    public let classifier: TrainedClassifier
    public let path: String
    /// nil for a classifier of images.
    public let audio: AudioImaging?

    public init(path: String) throws {
        classifier = try TrainedClassifier(contentsOf: path)
        self.path = path
        audio = try AudioImaging(metadata: classifier.metadata, path: path)
    }

    public var configuration: ClassifierConfiguration { classifier.configuration }
    public var classes: [String] { configuration.classes }

    /// Refuses a generator this classifier cannot judge: audio against images, other front-end
    /// settings, another image size.
    public func requireCompatible(with model: TrainedModel, modelPath: String) throws {
        try AudioImaging.requireAgreement(classifier: audio,
                                          subject: try AudioImaging(metadata: model.metadata, path: modelPath)?.frontEnd,
                                          judge: "classifier '\(path)'", subject: "generator '\(modelPath)'", verb: "makes",
                                          shortName: "generator")
        let c = model.configuration
        guard c.imageSize == configuration.imageSize, c.channels == configuration.channels else {
            throw UsageError("classifier '\(path)' takes \(configuration.channels)x\(configuration.imageSize)x\(configuration.imageSize) images; generator '\(modelPath)' makes \(c.channels)x\(c.imageSize)x\(c.imageSize)")
        }
    }

    /// A generator's images `[N, C, S, S]` as this classifier's input.
    public func input(fromModel images: Tensor, of model: TrainedModel, modelPath: String) throws -> Tensor {
        guard let audio, let theirs = try AudioImaging(metadata: model.metadata, path: modelPath) else { return images }
        return audio.renormalize(images, from: theirs.normalization)
    }

    /// Each of a generator's images judged: its most probable class and that probability.
    public func verdicts(_ images: Tensor, of model: TrainedModel, modelPath: String) throws -> [(label: String, confidence: Double)] {
        let p = classifier.judge(try input(fromModel: images, of: model, modelPath: modelPath)).probabilities
        let k = classes.count
        return (0..<images.shape[0]).map { n in
            let row = p.values[(n * k)..<((n + 1) * k)]
            let best = row.indices.max { row[$0] < row[$1] }!
            return (classes[best - n * k], Double(row[best]))
        }
    }

    /// The held-out accuracy the classifier was saved with, if it held any out.
    public var heldOutAccuracy: Double? { classifier.metadata["held_out_accuracy"].flatMap(Double.init) }

    /// The index of class `name`; an unknown one is an error listing the classes.
    public func classIndex(_ name: String, option: String) throws -> Int {
        guard let index = classes.firstIndex(of: name) else {
            throw UsageError("\(option) '\(name)' is not a class of classifier '\(path)'; its classes: \(classes.joined(separator: ", "))")
        }
        return index
    }

    /// The scores of one set of input images (this classifier's normalisation), against a
    /// reference set when given: Inception score over `splits`, the predicted labels'
    /// distribution, nearest-neighbour distances within the set and to the reference, and the
    /// Frechet distance between the embeddings.
    ///
    /// The splits take the examples in a seeded random order: a folder sorted by class would
    /// otherwise give splits of one class each, and a score of 1.
    public func scores(_ images: Tensor, splits: Int, reference: JudgedSet? = nil) -> SetScores {
        scores(judged: judge(images), splits: splits, reference: reference)
    }

    /// `scores` of a set already judged (`judge(images)`), so that other measures of the same
    /// verdicts need no second pass.
    public func scores(judged: JudgedSet, splits: Int, reference: JudgedSet? = nil) -> SetScores {
        let images = judged.images
        let k = classes.count
        var order = Array(0..<images.shape[0])
        var shuffler = RandomNumbers(seed: 0x15)
        shuffler.shuffle(&order)
        let shuffled = order.flatMap { judged.probabilities.values[($0 * k)..<(($0 + 1) * k)] }
        let score = inceptionScore(probabilities: shuffled, classes: k, splits: splits)
        let labels = labelDistribution(probabilities: judged.probabilities.values, classes: k)
        let d = images.count / max(1, images.shape[0])
        let nearest = images.shape[0] >= 2 ? nearestNeighbourDistances(images.values, images.values, dimension: d, excludingSelf: true) : []
        var scores = SetScores(
            count: images.shape[0], inceptionScore: score.mean, inceptionScoreStd: score.std, splits: splits,
            labelEntropyBits: labels.entropyBits, labelEntropyMaxBits: log2(Double(k)),
            labelCounts: Dictionary(uniqueKeysWithValues: zip(classes, labels.counts)),
            dSelf: nearest.isEmpty ? nil : average(nearest), dSelfMin: nearest.min().map(Double.init))
        if let reference {
            scores.frechetDistance = frechetDistance(judged.embeddings.values, reference.embeddings.values,
                                                     dimension: configuration.embeddingSize)
            scores.dTrain = average(nearestNeighbourDistances(images.values, reference.images.values, dimension: d))
        }
        return scores
    }

    /// Images with the classifier's view of them.
    public func judge(_ images: Tensor) -> JudgedSet {
        let (probabilities, embeddings) = classifier.judge(images)
        return JudgedSet(images: images, probabilities: probabilities, embeddings: embeddings)
    }

    /// The share of `images` whose most probable class is `label`.
    public func fraction(of label: Int, in images: Tensor) -> Double {
        let counts = labelDistribution(probabilities: classifier.judge(images).probabilities.values, classes: classes.count).counts
        return Double(counts[label]) / Double(max(1, images.shape[0]))
    }
}

public struct JudgedSet {
    public var images: Tensor
    public var probabilities: Tensor
    public var embeddings: Tensor
}

/// What `melforge evaluate` reports of one set; the JSON keys are these names in snake_case.
public struct SetScores: Encodable {
    public var count: Int
    public var inceptionScore: Double
    public var inceptionScoreStd: Double
    public var splits: Int
    public var labelEntropyBits: Double
    public var labelEntropyMaxBits: Double
    public var labelCounts: [String: Int]
    /// Mean Euclidean distance from each example to its nearest other example of the set, in
    /// the classifier's input space (log-mel normalised to [-1, 1], or pixels in [-1, 1]).
    public var dSelf: Double?
    /// The smallest of those distances: 0 when a clip is repeated exactly.
    public var dSelfMin: Double?
    public var frechetDistance: Double? = nil
    /// Mean distance from each example to its nearest reference example.
    public var dTrain: Double? = nil
}

/// The mean in Double; 0 for no values.
public func average(_ values: [Float]) -> Double {
    values.isEmpty ? 0 : values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
}

/// Evaluation during training (`train --classifier`): the same samples every time, judged
/// without vocoding, against the training data.
public struct TrainingEvaluation {
    /// The log keys of its scores.
    public static let keys: Set<String> = ["inception_score", "frechet_distance", "label_entropy_bits", "d_self"]

    let judge: Judge
    let imaging: AudioImaging?
    let reference: JudgedSet
    /// Samples per evaluation: the model's fixed latents (the first 16 are samples.png's).
    let count: Int

    /// - Parameters:
    ///   - data: the training images, made as `imaging` says (nil for pictures).
    public init(classifier path: String, data: Tensor, imaging: AudioImaging?, count: Int, seed: UInt64) throws {
        judge = try Judge(path: path)
        self.imaging = imaging
        try AudioImaging.requireAgreement(classifier: judge.audio, subject: imaging?.frontEnd, judge: "--classifier '\(path)'",
                                          subject: "this run", verb: "trains on", shortName: "training")
        let c = judge.configuration
        guard c.channels == data.shape[1], c.imageSize == data.shape[2] else {
            throw UsageError("--classifier '\(path)' takes \(c.channels)x\(c.imageSize)x\(c.imageSize) images; the data are \(data.shape.dropFirst().map(String.init).joined(separator: "x"))")
        }
        // At most 4 x count training images (a seeded choice) as the reference.
        let n = data.shape[0], per = data.count / n
        var order = Array(0..<n)
        var random = RandomNumbers(seed: seed &+ 5)
        random.shuffle(&order)
        let chosen = order.prefix(4 * count)
        let values = chosen.flatMap { data.values[($0 * per)..<(($0 + 1) * per)] }
        self.reference = judge.judge(Self.judgeInput(Tensor(shape: [chosen.count] + Array(data.shape.dropFirst()), values: values),
                                                     judge: judge, imaging: imaging))
        self.count = count
    }

    /// Images of the run as the judge's input (its own normalisation).
    static func judgeInput(_ images: Tensor, judge: Judge, imaging: AudioImaging?) -> Tensor {
        guard let audio = judge.audio, let imaging else { return images }
        return audio.renormalize(images, from: imaging.normalization)
    }

    /// Inception score, Frechet distance, label entropy and |D|self of the model's samples now.
    public func scores(of training: TrainingRun) -> [String: Double] {
        let images = Self.judgeInput(training.samples(count: count), judge: judge, imaging: imaging)
        let scores = judge.scores(images, splits: 10, reference: reference)
        var result = ["inception_score": scores.inceptionScore, "label_entropy_bits": scores.labelEntropyBits]
        result["frechet_distance"] = scores.frechetDistance
        result["d_self"] = scores.dSelf
        return result
    }
}
