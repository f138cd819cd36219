import ArgumentParser
import AudioIO
import Datasets
import Evaluation
import FileFormats
import Foundation
import Spectral
import Tensors
import Training

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score generated clips (or images) with a classifier, or resynthesized audio against the originals.",
        discussion: """
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
            classifier's input images. The reference set is scored too, as the ceiling.

            --resynthesized DIR --reference DIR: files are paired by their path without the \
            extension; reported are the mean spectral convergence and log-spectral distance \
            (dB) of the STFT magnitudes.

            A table goes to the terminal and everything, per class and per file, to --json.
            """)

    @Option(help: "A classifier from 'melforge classifier train'.")
    var classifier: String?

    @Option(help: "A folder of generated clips (or PNG images, for an image classifier).")
    var generated: String?

    @Option(help: "A folder of real clips or images: the training data (with --generated) or the originals (with --resynthesized).")
    var reference: String?

    @Option(help: "A folder of resynthesized clips, paired by name with --reference.")
    var resynthesized: String?

    @Option(help: "Where to write the scores as JSON.")
    var json = "evaluation.json"

    @Option(help: "Parts the Inception score is computed over.")
    var splits = 10

    @Option(help: "With --resynthesized: the STFT's FFT size.")
    var nFFT = 1_024

    @Option(help: "With --resynthesized: the STFT's hop.")
    var hopLength = 256

    func validate() throws {
        switch (classifier, generated, resynthesized) {
        case (.some, .some, nil): break
        case (nil, nil, .some):
            guard reference != nil else { throw ValidationError("--resynthesized needs --reference DIR (the originals)") }
        default:
            throw ValidationError("give --classifier C --generated DIR [--reference DIR], or --resynthesized DIR --reference DIR")
        }
        guard splits >= 1 else { throw ValidationError("--splits \(splits) is not accepted; expected 1 or more") }
        guard nFFT >= 2 else { throw ValidationError("--n-fft \(nFFT) is not accepted; expected 2 or more (1024 is usual)") }
        guard (1...nFFT).contains(hopLength) else {
            throw ValidationError("--hop-length \(hopLength) is not accepted; expected 1...\(nFFT) (--n-fft)")
        }
    }

    func run() throws {
        if let resynthesized { return try evaluateResynthesis(resynthesized, reference: reference!) }
        let judge = try Judge(path: classifier!)
        let generatedSet = try EvaluationSet(folder: generated!, option: "--generated", judge: judge)
        guard generatedSet.count >= splits else {
            throw CommandError("--generated '\(generated!)' has \(generatedSet.count) usable files; the Inception score over \(splits) splits needs at least \(splits) (pass --splits)")
        }
        let referenceSet = try reference.map { try EvaluationSet(folder: $0, option: "--reference", judge: judge) }
        let referenceJudged = referenceSet.map { judge.judge($0.images) }
        let scores = judge.scores(generatedSet.images, splits: splits, reference: referenceJudged)
        let referenceScores = referenceSet.flatMap { set in
            set.count >= splits ? judge.scores(set.images, splits: splits) : nil
        }
        let report = EvaluationReport(
            classifier: judge.path, classes: judge.classes,
            classifierHeldOutAccuracy: judge.classifier.metadata["held_out_accuracy"].flatMap(Double.init),
            generated: generated!, reference: reference, scores: scores, referenceScores: referenceScores,
            silentFraction: generatedSet.fraction(generatedSet.silent), clippedFraction: generatedSet.fraction(generatedSet.clipped),
            nonFiniteFraction: generatedSet.fraction(generatedSet.nonFinite), skipped: generatedSet.skipped)
        try writeJSON(report)
        print(report.table)
        print("scores written to \(json)")
    }

    func writeJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(value)) + [0x0A], to: json)
    }

    // MARK: Resynthesis

    func evaluateResynthesis(_ folder: String, reference: String) throws {
        for (option, path) in [("--resynthesized", folder), ("--reference", reference)] where !isDirectory(path) {
            throw CommandError("\(option) '\(path)' is not a folder")
        }
        func byStem(_ root: String) -> [String: String] {
            Dictionary(listFiles(root, extensions: audioFileExtensions).map { (($0 as NSString).deletingPathExtension, $0) },
                       uniquingKeysWith: { first, _ in first })
        }
        let (originals, copies) = (byStem(reference), byStem(folder))
        let pairs = originals.keys.filter { copies[$0] != nil }.sorted()
        guard !pairs.isEmpty else {
            throw CommandError("no file of --resynthesized '\(folder)' has a namesake in --reference '\(reference)' (files are paired by their path without the extension)")
        }
        let stft = try STFT(nFFT: nFFT, hopLength: hopLength)
        var files: [ResynthesisReport.File] = []
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
                files.append(.init(name: stem, spectralConvergence: spectralConvergence(reference: a.values, estimate: b.values),
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
        guard !files.isEmpty else { throw CommandError("no pair could be read; first problem: \(skipped.first ?? "")") }
        let report = ResynthesisReport(
            resynthesized: folder, reference: reference, pairs: files.count,
            spectralConvergence: files.map(\.spectralConvergence).reduce(0, +) / Double(files.count),
            logSpectralDistanceDB: files.map(\.logSpectralDistanceDB).reduce(0, +) / Double(files.count),
            withoutCopy: originals.keys.filter { copies[$0] == nil }.sorted(),
            withoutOriginal: copies.keys.filter { originals[$0] == nil }.sorted(), skipped: skipped, files: files)
        try writeJSON(report)
        print(String(format: "%d pairs: spectral convergence %.4f, log-spectral distance %.2f dB", files.count,
                     report.spectralConvergence, report.logSpectralDistanceDB))
        if !report.withoutCopy.isEmpty || !report.withoutOriginal.isEmpty || !skipped.isEmpty {
            print("unpaired: \(report.withoutCopy.count) originals without a copy, \(report.withoutOriginal.count) copies without an original; \(skipped.count) unreadable (listed in \(json))")
        }
        print("scores written to \(json)")
    }
}

/// A folder of clips (or images) read as a judge's input, with what was wrong with them.
struct EvaluationSet {
    var images: Tensor
    /// Clips whose peak is below -60 dBFS.
    var silent = 0
    /// Clips with over 0.1% of their samples at full scale.
    var clipped = 0
    /// Clips holding NaN or infinite samples (read as silence there).
    var nonFinite = 0
    /// "file: problem" for each file that could not be read.
    var skipped: [String] = []

    var count: Int { images.shape[0] }

    func fraction(_ n: Int) -> Double { Double(n) / Double(max(1, count + skipped.count)) }

    init(folder: String, option: String, judge: Judge) throws {
        guard isDirectory(folder) else {
            throw CommandError("\(option) '\(folder)' is \(FileManager.default.fileExists(atPath: folder) ? "not a folder" : "missing")")
        }
        let c = judge.configuration
        let size = c.imageSize, per = c.channels * size * size
        let names = listFiles(folder, extensions: judge.audio == nil ? ["png"] : audioFileExtensions)
        // Features instead of audio (melforge convert's output, or spectrogram .npy files): read
        // as training reads them, then moved into the classifier's normalisation.
        if let audio = judge.audio,
           FileManager.default.fileExists(atPath: folder + "/frontend.json")
            || (names.isEmpty && !listFiles(folder, extensions: ["npy"]).isEmpty) {
            let (features, normalization, _) = try DataOptions.parse(["--data", folder]).load()
            images = audio.renormalize(features, from: normalization!)
            return
        }
        guard !names.isEmpty else {
            throw CommandError("\(option) '\(folder)' holds no \(judge.audio == nil ? "PNG images" : "audio files or log-mel features") (searched recursively)")
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
                        throw CommandError("classifier '\(judge.path)' takes \(c.channels) channels; PNG pictures have 1 or 3")
                    }
                    let picture = try PNG.read(path, as: channels)
                    guard picture.width == size, picture.height == size else {
                        throw InputError(file: path, problem: "is \(picture.width)x\(picture.height); the classifier takes \(size)x\(size)")
                    }
                    values += ImageFolder.values(of: picture)
                }
                read += 1
            } catch let error as CommandError {
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
            throw CommandError("\(option) '\(folder)': none of its \(names.count) files could be read; first problem: \(skipped.first ?? "")")
        }
        images = Tensor(shape: [read, c.channels, size, size], values: values)
    }
}

struct EvaluationReport: Encodable {
    var classifier: String
    var classes: [String]
    var classifierHeldOutAccuracy: Double?
    var generated: String
    var reference: String?
    var scores: SetScores
    var referenceScores: SetScores?
    var silentFraction: Double
    var clippedFraction: Double
    var nonFiniteFraction: Double
    var skipped: [String]

    var table: String {
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
        if !skipped.isEmpty { lines.append("\(skipped.count) files could not be read (listed in the JSON)") }
        return lines.joined(separator: "\n")
    }
}

struct ResynthesisReport: Encodable {
    struct File: Encodable {
        var name: String
        var spectralConvergence: Double
        var logSpectralDistanceDB: Double
        /// Samples in the copy minus samples in the original (only the common part is compared).
        var lengthDifference: Int
    }

    var resynthesized: String
    var reference: String
    var pairs: Int
    var spectralConvergence: Double
    var logSpectralDistanceDB: Double
    var withoutCopy: [String]
    var withoutOriginal: [String]
    var skipped: [String]
    var files: [File]
}
