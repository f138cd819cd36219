import AudioIO
import Datasets
import FileFormats
import Evaluation
import Foundation
import Spectral
import Tensors

/// A folder of clips (or images) read as a judge's input, with what was wrong with them.
public struct EvaluationSet {
    public var images: Tensor
    /// Clips whose peak is below -60 dBFS.
    public var silent = 0
    /// Clips with over 0.1% of their samples at full scale.
    public var clipped = 0
    /// Clips holding NaN or infinite samples (read as silence there).
    public var nonFinite = 0
    /// "file: problem" for each file that could not be read.
    public var skipped: [String] = []
    /// Each image's file (its path inside the folder), in order; empty when the folder held
    /// features read as a whole.
    public var files: [String] = []

    public var count: Int { images.shape[0] }

    public func fraction(_ n: Int) -> Double { Double(n) / Double(max(1, count + skipped.count)) }

    /// `option` names the folder's flag in errors ("--generated"); `only`, when given, the
    /// files (paths inside `folder`) to read instead of every one.
    public init(folder: String, option: String, judge: Judge, only: [String]? = nil) throws {
        guard isDirectory(folder) else {
            throw UsageError("\(option) '\(folder)' is \(FileManager.default.fileExists(atPath: folder) ? "not a folder" : "missing")")
        }
        let c = judge.configuration
        let size = c.imageSize, per = c.channels * size * size
        let names = only ?? listFiles(folder, extensions: judge.audio == nil ? ["png"] : audioFileExtensions)
        // Features instead of audio (melforge convert's output, or spectrogram .npy files): read
        // as training reads them, then moved into the classifier's normalisation.
        if only == nil, let audio = judge.audio,
           FileManager.default.fileExists(atPath: folder + "/frontend.json")
            || (names.isEmpty && !listFiles(folder, extensions: ["npy"]).isEmpty) {
            let read = try DataSource.audio(folder: folder, frontEnd: audio.frontEnd, frames: size,
                                            loudness: audio.loudness ?? .asRecorded).load()
            images = audio.renormalize(read.images, from: read.imaging!.normalization)
            return
        }
        guard !names.isEmpty else {
            throw UsageError("\(option) '\(folder)' holds no \(judge.audio == nil ? "PNG images" : "audio files or log-mel features") (searched recursively)")
        }
        var values: [Float] = []
        values.reserveCapacity(names.count * per)
        var read = 0
        let progress = names.count >= 200 ? ProgressBar(total: names.count, label: "read \(option.dropFirst(2))", unit: "files") : nil
        for (index, name) in names.enumerated() {
            let path = folder + "/" + name
            do {
                if let audio = judge.audio {
                    let clip = try AudioFile.read(path, sampleRate: audio.frontEnd.sampleRate, nonFinite: .zero)
                    values += try audio.image(ofSamples: clip.samples, size: size, source: path)
                    let peak = clip.samples.reduce(0) { max($0, abs($1)) }
                    if peak < 0.001 { silent += 1 }
                    if clip.samples.filter({ abs($0) >= 0.999 }).count * 1000 > clip.samples.count { clipped += 1 }
                    if clip.replacedSamples > 0 { nonFinite += 1 }
                } else {
                    guard let channels = PixelImage.Channels(rawValue: c.channels) else {
                        throw UsageError("classifier '\(judge.path)' takes \(c.channels) channels; PNG pictures have 1 or 3")
                    }
                    let picture = try PNG.read(path, as: channels)
                    guard picture.width == size, picture.height == size else {
                        throw InputError(file: path, problem: "is \(picture.width)x\(picture.height); the classifier takes \(size)x\(size)")
                    }
                    values += ImageFolder.values(of: picture)
                }
                read += 1
                files.append(name)
            } catch let error as UsageError {
                throw error
            } catch {
                skipped.append("\(error)")
                progress?.update(index + 1, event: "skipped: \(error)")
                continue
            }
            progress?.update(index + 1)
        }
        progress?.finish()
        guard read > 0 else {
            throw UsageError("\(option) '\(folder)': none of its \(names.count) files could be read; first problem: \(skipped.first ?? "")")
        }
        images = Tensor(shape: [read, c.channels, size, size], values: values)
    }
}

public struct EvaluationReport: Encodable {
    public var classifier: String
    public var classes: [String]
    public var classifierHeldOutAccuracy: Double?
    public var generated: String
    public var reference: String?
    /// The speakers whose clips of `reference` were scored (nil: every clip).
    public var referenceSpeakers: [String]?
    public var scores: SetScores
    public var referenceScores: SetScores?
    /// The generated clips' Inception score over the reference clips' (on the same classifier).
    public var inceptionScoreRatio: Double?
    public var silentFraction: Double
    public var clippedFraction: Double
    public var nonFiniteFraction: Double
    public var skipped: [String]
    /// Reference files not scored: unreadable, or their speaker not told by the naming.
    public var referenceSkipped: [String] = []
    /// With --requested-by-folder: how often the classifier hears the class each clip was
    /// asked for.
    public var requested: RequestedClasses?

    public var table: String {
        func row(_ name: String, _ generated: String, _ reference: String = "") -> String {
            name.padding(toLength: 30, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: max(0, 16 - generated.count)) + generated
                + String(repeating: " ", count: max(0, 16 - reference.count)) + reference
        }
        func number(_ value: Double?, _ format: String = "%.3f") -> String { value.map { String(format: format, $0) } ?? "-" }
        let r = referenceScores
        var lines = [row("", "generated", r == nil ? "" : "reference")]
        lines.append(row("clips", "\(scores.count)", r.map { "\($0.count)" } ?? ""))
        lines.append(row("Inception score", String(format: "%.2f ± %.2f", scores.inceptionScore, scores.inceptionScoreStd),
                         r.map { String(format: "%.2f ± %.2f", $0.inceptionScore, $0.inceptionScoreStd) } ?? ""))
        if let ratio = inceptionScoreRatio { lines.append(row("Inception score / reference", String(format: "%.2fx", ratio))) }
        lines.append(row("Frechet distance", number(scores.frechetDistance)))
        lines.append(row(String(format: "label entropy (bits, max %.2f)", scores.labelEntropyMaxBits),
                         number(scores.labelEntropyBits), r.map { number($0.labelEntropyBits) } ?? ""))
        lines.append(row("|D|self", number(scores.dSelf), r.map { number($0.dSelf) } ?? ""))
        lines.append(row("|D|self, closest pair", number(scores.dSelfMin), r.map { number($0.dSelfMin) } ?? ""))
        lines.append(row("|D|train", number(scores.dTrain)))
        lines.append(row("silent / clipped / NaN", String(format: "%.1f%%/%.1f%%/%.1f%%", 100 * silentFraction, 100 * clippedFraction,
                                                            100 * nonFiniteFraction)))
        let top = scores.labelCounts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(5)
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("most frequent labels: \(top)")
        if let accuracy = classifierHeldOutAccuracy {
            lines.append(String(format: "classifier held-out accuracy: %.1f%%", 100 * accuracy))
        }
        if let requested {
            let worst = requested.byClass.sorted { ($0.value.accuracy, $0.key) < ($1.value.accuracy, $1.key) }.prefix(3)
                .map { String(format: "%@ %.0f%%", $0.key, 100 * $0.value.accuracy) }.joined(separator: ", ")
            lines.append(String(format: "heard as requested: %.1f%% of %d clips (lowest: %@)", 100 * requested.accuracy, requested.clips, worst))
        }
        if let speakers = referenceSpeakers {
            lines.append("reference: the clips of \(speakers.count == 1 ? "speaker" : "speakers") \(speakers.joined(separator: ", "))")
        }
        if !skipped.isEmpty { lines.append("\(skipped.count) files could not be read (listed in the JSON)") }
        if !referenceSkipped.isEmpty { lines.append("\(referenceSkipped.count) reference files skipped (listed in the JSON)") }
        return lines.joined(separator: "\n")
    }
}

public struct ResynthesisReport: Encodable {
    public struct File: Encodable {
        public var name: String
        public var spectralConvergence: Double
        public var logSpectralDistanceDB: Double
        /// Samples in the copy minus samples in the original (only the common part is compared).
        public var lengthDifference: Int
    }

    public var resynthesized: String
    public var reference: String
    public var pairs: Int
    public var spectralConvergence: Double
    public var logSpectralDistanceDB: Double
    public var withoutCopy: [String]
    public var withoutOriginal: [String]
    public var skipped: [String]
    public var files: [File]
}

extension EvaluationReport {
    /// `melforge evaluate`'s discussion.
    public static let help = """
        --classifier C --generated DIR [--reference DIR]: every audio file under DIR (or PNG \
        for an image classifier) is read as the classifier was trained (same front end, \
        cut or padded to its clip length) and judged. Reported: the Inception score over \
        --splits parts (mean and std, as in Donahue et al. 2019's SC09 evaluation), the \
        entropy of the predicted labels, |D|self (mean distance from each clip to its \
        nearest other generated clip: diversity) and the share of silent (peak below \
        -60 dBFS), clipped (over 0.1% of samples at full scale) and non-finite clips; with \
        --reference (say, the training clips) also the Frechet distance between the \
        classifier's embeddings of both sets and |D|train (distance to the nearest \
        reference clip: memorisation when near 0). Distances are Euclidean between the \
        classifier's input images. The reference set is scored too, as the ceiling, and the \
        ratio of the two Inception scores is given. With --requested-by-folder (a \
        conditional model's clips, each class in a folder of its name: synthesize --label L \
        -o DIR/L) the share of clips the classifier hears as the class they were asked for \
        is reported, in all and by class. With --speakers held-out (and --layout \
        or --speaker-pattern to tell each clip's speaker) only the reference clips of the \
        speakers the classifier never heard are scored: the fair ceiling for a generator \
        trained on the other speakers.

        --resynthesized DIR --reference DIR: files are paired by their path without the \
        extension; reported are the mean spectral convergence and log-spectral distance \
        (dB) of the STFT magnitudes.

        A table goes to the terminal and everything, per class and per file, to --json.
        """

    /// The scores of the clips or pictures under `generated`, judged by the classifier in
    /// `classifier`, against the set under `reference` when given (which is scored too, as
    /// the ceiling); the Inception score over `splits` parts.
    public static func measure(classifier: String, generated: String, reference: String?, splits: Int,
                               speakers: ReferenceSpeakers = .all, naming: ClipNaming = .folders,
                               requestedByFolder: Bool = false) throws -> EvaluationReport {
        let judge = try Judge(path: classifier)
        let generatedSet = try EvaluationSet(folder: generated, option: "--generated", judge: judge)
        let judged = judge.judge(generatedSet.images)
        let requested = try requestedByFolder ? RequestedClasses(generatedSet, judged: judged, judge: judge, folder: generated) : nil
        guard generatedSet.count >= splits else {
            throw UsageError("--generated '\(generated)' has \(generatedSet.count) usable files; the Inception score over \(splits) splits needs at least \(splits) (pass --splits)")
        }
        var chosen: (files: [String], speakers: [String], skipped: [String])?
        if let reference, speakers != .all {
            chosen = try speakers.files(in: reference, naming: naming, judge: judge)
        } else if speakers != .all {
            throw UsageError("--speakers \(speakers.text) chooses among the clips of --reference DIR; give --reference")
        }
        let referenceSet = try reference.map { try EvaluationSet(folder: $0, option: "--reference", judge: judge, only: chosen?.files) }
        // Each set through the classifier once: its verdicts serve every measure of it.
        let referenceJudged = referenceSet.map { judge.judge($0.images) }
        let scores = judge.scores(judged: judged, splits: splits, reference: referenceJudged)
        let referenceScores = referenceJudged.flatMap { set in set.images.shape[0] >= splits ? judge.scores(judged: set, splits: splits) : nil }
        return EvaluationReport(
            classifier: judge.path, classes: judge.classes,
            classifierHeldOutAccuracy: judge.heldOutAccuracy,
            generated: generated, reference: reference, referenceSpeakers: chosen?.speakers, scores: scores,
            referenceScores: referenceScores,
            inceptionScoreRatio: referenceScores.flatMap { $0.inceptionScore > 0 ? scores.inceptionScore / $0.inceptionScore : nil },
            silentFraction: generatedSet.fraction(generatedSet.silent), clippedFraction: generatedSet.fraction(generatedSet.clipped),
            nonFiniteFraction: generatedSet.fraction(generatedSet.nonFinite),
            skipped: generatedSet.skipped, referenceSkipped: (chosen?.skipped ?? []) + (referenceSet?.skipped ?? []),
            requested: requested)
    }
}

/// A conditional model's clips against the classes they were asked for (each clip's parent
/// folder names it): the share the classifier hears as that class, in all and by class.
public struct RequestedClasses: Encodable {
    public struct Class: Encodable {
        public var clips: Int
        public var heardAsRequested: Int
        public var accuracy: Double
        /// What the classifier heard in this folder's clips, by class.
        public var heard: [String: Int]
    }

    public var clips: Int
    public var heardAsRequested: Int
    public var accuracy: Double
    public var byClass: [String: Class]

    /// A clip outside any folder, or in a folder that names no class of the classifier, is an
    /// error naming it (the whole measure would be wrong, not one clip).
    init(_ set: EvaluationSet, judged: JudgedSet, judge: Judge, folder: String) throws {
        guard set.files.count == set.count else {
            throw UsageError("--requested-by-folder reads the class from each clip's folder; '\(folder)' holds features read as one set (give the audio files)")
        }
        let requested = try set.files.map { file -> Int in
            let parts = file.split(separator: "/")
            guard parts.count >= 2 else {
                throw UsageError("--requested-by-folder: '\(folder)/\(file)' is in no class's folder; put each class's clips in a folder of its name (\(judge.classes.joined(separator: ", ")))")
            }
            return try judge.classIndex(String(parts[parts.count - 2]), option: "--requested-by-folder: the folder of '\(file)',")
        }
        let heard = mostProbableClasses(probabilities: judged.probabilities.values, classes: judge.classes.count)
        var byClass: [String: Class] = [:]
        for (asked, got) in zip(requested, heard) {
            let name = judge.classes[asked]
            var entry = byClass[name] ?? Class(clips: 0, heardAsRequested: 0, accuracy: 0, heard: [:])
            entry.clips += 1
            if asked == got { entry.heardAsRequested += 1 }
            entry.heard[judge.classes[got], default: 0] += 1
            entry.accuracy = Double(entry.heardAsRequested) / Double(entry.clips)
            byClass[name] = entry
        }
        clips = set.count
        heardAsRequested = zip(requested, heard).filter { $0 == $1 }.count
        accuracy = Double(heardAsRequested) / Double(max(1, clips))
        self.byClass = byClass
    }
}

/// Whose clips of `evaluate --reference` are scored (`--speakers`): every clip, the speakers
/// the classifier held out when it was trained (`classifier train --held-out` by speaker: the
/// voices it never heard), the speakers it trained on, or speakers by name.
public enum ReferenceSpeakers: Equatable, Sendable {
    case all, heldOut, training
    case named([String])

    /// `all`, `held-out`, `training`, or names separated by commas.
    public init(_ text: String) throws {
        switch text {
        case "all": self = .all
        case "held-out": self = .heldOut
        case "training": self = .training
        default:
            let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else {
                throw UsageError("--speakers '\(text)' is not accepted; expected all, held-out, training, or speaker names separated by commas")
            }
            self = .named(names)
        }
    }

    public static let help = "Which clips of --reference are scored, by their speaker (from --layout or --speaker-pattern): all (the default), held-out (the speakers the classifier never heard in training, as 'classifier train --held-out' recorded them), training, or names separated by commas."

    var text: String {
        switch self {
        case .all: "all"
        case .heldOut: "held-out"
        case .training: "training"
        case .named(let names): names.joined(separator: ",")
        }
    }

    /// The files of `folder` (paths inside it) by these speakers, the speakers, and a line for
    /// each file whose speaker the naming cannot tell (skipped).
    func files(in folder: String, naming: ClipNaming, judge: Judge) throws -> (files: [String], speakers: [String], skipped: [String]) {
        guard naming.hasSpeakers else {
            throw UsageError("--speakers \(text) needs each clip's speaker: give --layout (speech-commands, fsdd or vctk) or --speaker-pattern")
        }
        guard judge.audio != nil else { throw UsageError("--speakers \(text) chooses audio clips; classifier '\(judge.path)' judges images") }
        guard isDirectory(folder) else {
            throw UsageError("--reference '\(folder)' is \(FileManager.default.fileExists(atPath: folder) ? "not a folder" : "missing")")
        }
        let wanted: Set<String>
        switch self {
        case .all: wanted = []
        case .named(let names): wanted = Set(names)
        case .heldOut, .training:
            let key = self == .heldOut ? "held_out_speakers" : "train_speakers"
            guard let list = judge.classifier.metadata[key], !list.isEmpty else {
                throw UsageError("classifier '\(judge.path)' records no \(self == .heldOut ? "held-out" : "training") speakers (it was not trained with --held-out split by speaker); name the speakers: --speakers NAME,NAME")
            }
            wanted = Set(list.split(separator: ",").map(String.init))
        }
        var files: [String] = [], skipped: [String] = [], found = Set<String>()
        for name in listFiles(folder, extensions: audioFileExtensions) {
            guard let speaker = naming.describe(name)?.speaker else {
                skipped.append(naming.mismatch(name))
                continue
            }
            found.insert(speaker)
            if wanted.contains(speaker) { files.append(name) }
        }
        guard !files.isEmpty else {
            throw UsageError("--reference '\(folder)' holds no clip of the speakers \(wanted.sorted().joined(separator: ", ")) (\(naming.description) finds \(found.isEmpty ? "no speaker" : found.sorted().joined(separator: ", ")))")
        }
        if case .named = self, let missing = wanted.subtracting(found).sorted().first {
            throw UsageError("--speakers: '\(missing)' has no clip in --reference '\(folder)' (\(naming.description) finds \(found.sorted().joined(separator: ", ")))")
        }
        return (files, wanted.intersection(found).sorted(), skipped)
    }
}

extension ResynthesisReport {
    /// Resynthesized clips against their originals, paired by path without the extension:
    /// spectral convergence and log-spectral distance of the STFT magnitudes (`stft`) over
    /// the length both share.
    public static func measure(resynthesized folder: String, reference: String, stft: STFT) throws -> ResynthesisReport {
        for (option, path) in [("--resynthesized", folder), ("--reference", reference)] where !isDirectory(path) {
            throw UsageError("\(option) '\(path)' is not a folder")
        }
        func byStem(_ root: String) -> [String: String] {
            Dictionary(listFiles(root, extensions: audioFileExtensions).map { (($0 as NSString).deletingPathExtension, $0) },
                       uniquingKeysWith: { first, _ in first })
        }
        let (originals, copies) = (byStem(reference), byStem(folder))
        let pairs = originals.keys.filter { copies[$0] != nil }.sorted()
        guard !pairs.isEmpty else {
            throw UsageError("no file of --resynthesized '\(folder)' has a namesake in --reference '\(reference)' (files are paired by their path without the extension)")
        }
        var files: [File] = []
        var skipped: [String] = []
        let progress = ProgressBar(total: pairs.count, label: "evaluate", unit: "files")
        for (index, stem) in pairs.enumerated() {
            let (originalPath, copyPath) = (reference + "/" + originals[stem]!, folder + "/" + copies[stem]!)
            do {
                let original = try AudioFile.read(originalPath)
                let copy = try AudioFile.read(copyPath, sampleRate: original.sampleRate)
                let length = min(original.samples.count, copy.samples.count)
                let a = try stft.magnitude(Array(original.samples.prefix(length)))
                let b = try stft.magnitude(Array(copy.samples.prefix(length)))
                files.append(File(name: stem, spectralConvergence: Spectral.spectralConvergence(reference: a.values, estimate: b.values),
                                  logSpectralDistanceDB: logSpectralDistance(reference: a.values, estimate: b.values,
                                                                             bins: a.bins, frames: a.frames),
                                  lengthDifference: copy.samples.count - original.samples.count))
            } catch {
                skipped.append("\(error)")
                progress.update(index + 1, event: "skipped: \(error)")
                continue
            }
            progress.update(index + 1)
        }
        progress.finish()
        guard !files.isEmpty else { throw UsageError("no pair could be read; first problem: \(skipped.first ?? "")") }
        return ResynthesisReport(
            resynthesized: folder, reference: reference, pairs: files.count,
            spectralConvergence: files.map(\.spectralConvergence).reduce(0, +) / Double(files.count),
            logSpectralDistanceDB: files.map(\.logSpectralDistanceDB).reduce(0, +) / Double(files.count),
            withoutCopy: originals.keys.filter { copies[$0] == nil }.sorted(),
            withoutOriginal: copies.keys.filter { originals[$0] == nil }.sorted(), skipped: skipped, files: files)
    }
}

/// `value` as pretty, sorted, snake_case JSON in `path` (atomically).
public func writeReport<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFile.write(Array(try encoder.encode(value)) + [0x0A], to: path)
}
