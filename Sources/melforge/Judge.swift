import AudioIO
import Evaluation
import FileFormats
import Foundation
import Spectral
import Tensors
import Training

/// How a model or a classifier trained on audio sees sound, from its file's metadata: the
/// front end and the normalisation that made its 64x64 log-mel images.
struct AudioImaging {
    let frontEnd: FrontEndConfiguration
    let normalization: LogMelNormalization

    /// nil when the file was trained on images (no audio metadata).
    init?(metadata: [String: String], path: String) throws {
        guard let normalizationText = metadata["normalization"], let frontEndText = metadata["front_end"] else { return nil }
        do {
            normalization = try JSONDecoder().decode(LogMelNormalization.self, from: Data(normalizationText.utf8))
            frontEnd = try JSONDecoder().decode(FrontEndConfiguration.self, from: Data(frontEndText.utf8))
        } catch {
            throw InputError(file: path, problem: "has unreadable front-end metadata: \(error)")
        }
    }

    /// Samples as the model's input: cut or padded to `size` frames' worth, log-mel, normalised.
    func image(ofSamples samples: [Float], size: Int, source: String) throws -> [Float] {
        let length = (size - 1) * frontEnd.hopLength
        let clip = Array(samples.prefix(length)) + [Float](repeating: 0, count: max(0, length - samples.count))
        var features = try MelFrontEnd(frontEnd).features(clip, threads: 1)
        guard features.bins == size, features.frames == size else {
            throw InputError(file: source, problem: "gives \(features.bins)x\(features.frames) features; the model takes \(size)x\(size)")
        }
        normalization.normalize(&features.values)
        return features.values
    }

    /// Images normalised by `other` (a generator's) moved into this normalisation: back to dB,
    /// then normalised here (values beyond this range clamp to -1 or 1).
    func renormalize(_ images: Tensor, from other: LogMelNormalization) -> Tensor {
        guard other != normalization else { return images }
        var values = images.values
        other.denormalize(&values)
        normalization.normalize(&values)
        return Tensor(shape: images.shape, values: values)
    }

    /// The settings in which two front ends differ, as "name: ours vs theirs", for errors.
    func differences(from other: FrontEndConfiguration) -> [String] {
        func fields(_ c: FrontEndConfiguration) -> [String: String] {
            let object = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(c))) as? [String: Any] ?? [:]
            return object.mapValues { "\($0)" }
        }
        let (mine, theirs) = (fields(frontEnd), fields(other))
        return Set(mine.keys).union(theirs.keys).sorted().compactMap { key in
            mine[key] == theirs[key] ? nil : "\(key) \(theirs[key] ?? "unset") vs \(mine[key] ?? "unset")"
        }
    }
}

/// A trained classifier as the judge of a set of generated clips or images: its input
/// (audio through its front end, or pictures) and the scores of a set.
struct Judge {
    let classifier: TrainedClassifier
    let path: String
    /// nil for a classifier of images.
    let audio: AudioImaging?

    init(path: String) throws {
        classifier = try TrainedClassifier(contentsOf: path)
        self.path = path
        audio = try AudioImaging(metadata: classifier.metadata, path: path)
    }

    var configuration: ClassifierConfiguration { classifier.configuration }
    var classes: [String] { configuration.classes }

    /// Refuses a generator this classifier cannot judge: audio against images, other front-end
    /// settings, another image size.
    func requireCompatible(with model: TrainedModel, modelPath: String) throws {
        let modelAudio = try AudioImaging(metadata: model.metadata, path: modelPath)
        switch (audio, modelAudio) {
        case (nil, .some):
            throw CommandError("classifier '\(path)' was trained on images; generator '\(modelPath)' makes audio")
        case (.some, nil):
            throw CommandError("classifier '\(path)' was trained on audio; generator '\(modelPath)' makes images")
        case let (.some(mine), .some(theirs)):
            let differences = mine.differences(from: theirs.frontEnd)
            guard differences.isEmpty else {
                throw CommandError("classifier '\(path)' was trained on other front-end settings than generator '\(modelPath)' (generator vs classifier: \(differences.joined(separator: ", "))); train the classifier on features made like the generator's")
            }
        case (nil, nil):
            break
        }
        let c = model.configuration
        guard c.imageSize == configuration.imageSize, c.channels == configuration.channels else {
            throw CommandError("classifier '\(path)' takes \(configuration.channels)x\(configuration.imageSize)x\(configuration.imageSize) images; generator '\(modelPath)' makes \(c.channels)x\(c.imageSize)x\(c.imageSize)")
        }
    }

    /// A generator's images `[N, C, S, S]` as this classifier's input.
    func input(fromModel images: Tensor, of model: TrainedModel, modelPath: String) throws -> Tensor {
        guard let audio, let theirs = try AudioImaging(metadata: model.metadata, path: modelPath) else { return images }
        return audio.renormalize(images, from: theirs.normalization)
    }

    /// The index of class `name`; an unknown one is an error listing the classes.
    func classIndex(_ name: String, option: String) throws -> Int {
        guard let index = classes.firstIndex(of: name) else {
            throw CommandError("\(option) '\(name)' is not a class of classifier '\(path)'; its classes: \(classes.joined(separator: ", "))")
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
    func scores(_ images: Tensor, splits: Int, reference: JudgedSet? = nil) -> SetScores {
        let judged = judge(images)
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
    func judge(_ images: Tensor) -> JudgedSet {
        let (probabilities, embeddings) = classifier.judge(images)
        return JudgedSet(images: images, probabilities: probabilities, embeddings: embeddings)
    }

    /// The share of `images` whose most probable class is `label`.
    func fraction(of label: Int, in images: Tensor) -> Double {
        let counts = labelDistribution(probabilities: classifier.judge(images).probabilities.values, classes: classes.count).counts
        return Double(counts[label]) / Double(max(1, images.shape[0]))
    }
}

struct JudgedSet {
    var images: Tensor
    var probabilities: Tensor
    var embeddings: Tensor
}

/// What `melforge evaluate` reports of one set; the JSON keys are these names in snake_case.
struct SetScores: Encodable {
    var count: Int
    var inceptionScore: Double
    var inceptionScoreStd: Double
    var splits: Int
    var labelEntropyBits: Double
    var labelEntropyMaxBits: Double
    var labelCounts: [String: Int]
    /// Mean Euclidean distance from each example to its nearest other example of the set, in
    /// the classifier's input space (log-mel normalised to [-1, 1], or pixels in [-1, 1]).
    var dSelf: Double?
    /// The smallest of those distances: 0 when a clip is repeated exactly.
    var dSelfMin: Double?
    var frechetDistance: Double? = nil
    /// Mean distance from each example to its nearest reference example.
    var dTrain: Double? = nil
}

/// The mean in Double; 0 for no values.
func average(_ values: [Float]) -> Double {
    values.isEmpty ? 0 : values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
}

/// Evaluation during training (`train --classifier`): the same samples every time, judged
/// without vocoding, against the training data.
struct TrainingEvaluation {
    static let keys: Set<String> = ["inception_score", "frechet_distance", "label_entropy_bits", "d_self"]

    let judge: Judge
    let normalization: LogMelNormalization?
    let reference: JudgedSet
    /// Samples per evaluation: the model's fixed latents (the first 16 are samples.png's).
    let count: Int

    /// - Parameters:
    ///   - data: the training images, normalised with `normalization` (nil for image data).
    init(classifier path: String, data: Tensor, normalization: LogMelNormalization?, count: Int, seed: UInt64) throws {
        judge = try Judge(path: path)
        self.normalization = normalization
        switch (judge.audio, normalization) {
        case (nil, .some): throw CommandError("--classifier '\(path)' was trained on images; this run trains on audio")
        case (.some, nil): throw CommandError("--classifier '\(path)' was trained on audio; this run trains on images")
        case (.some(let audio), .some):
            let differences = audio.differences(from: DataOptions.frontEnd)
            guard differences.isEmpty else {
                throw CommandError("--classifier '\(path)' was trained on other front-end settings than training uses (training vs classifier: \(differences.joined(separator: ", ")))")
            }
        case (nil, nil): break
        }
        let c = judge.configuration
        guard c.channels == data.shape[1], c.imageSize == data.shape[2] else {
            throw CommandError("--classifier '\(path)' takes \(c.channels)x\(c.imageSize)x\(c.imageSize) images; the data are \(data.shape.dropFirst().map(String.init).joined(separator: "x"))")
        }
        // At most 4 x count training images (a seeded choice) as the reference.
        let n = data.shape[0], per = data.count / n
        var order = Array(0..<n)
        var random = RandomNumbers(seed: seed &+ 5)
        random.shuffle(&order)
        let chosen = order.prefix(4 * count)
        let values = chosen.flatMap { data.values[($0 * per)..<(($0 + 1) * per)] }
        var reference = Tensor(shape: [chosen.count] + Array(data.shape.dropFirst()), values: values)
        if let audio = judge.audio, let normalization { reference = audio.renormalize(reference, from: normalization) }
        self.reference = judge.judge(reference)
        self.count = count
    }

    /// Inception score, Frechet distance, label entropy and |D|self of the model's samples now.
    func scores(of training: TrainingRun) -> [String: Double] {
        var images = training.samples(count: count)
        if let audio = judge.audio, let normalization { images = audio.renormalize(images, from: normalization) }
        let scores = judge.scores(images, splits: 10, reference: reference)
        var result = ["inception_score": scores.inceptionScore, "label_entropy_bits": scores.labelEntropyBits]
        result["frechet_distance"] = scores.frechetDistance
        result["d_self"] = scores.dSelf
        return result
    }
}
