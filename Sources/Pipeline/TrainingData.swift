import AudioIO
import Datasets
import FileFormats
import Foundation
import Spectral
import Tensors

/// Images for the models with what they came from: the training set of `train`, of
/// `classifier train`, and a reference set of `evaluate`.
public struct LabelledImages {
    /// `[N, C, S, S]` in [-1, 1].
    public var images: Tensor
    /// How the images were made from sound; nil for pictures.
    public var imaging: AudioImaging?
    /// Each image's class name (its parent folder's, or what the data's `ClipNaming` gives);
    /// nil for IDX files, whose labels are a file of their own.
    public var folderLabels: [String]?
    /// Each image's speaker, when the data's naming gives speakers.
    public var speakers: [String]? = nil

    public init(images: Tensor, imaging: AudioImaging?, folderLabels: [String]?, speakers: [String]? = nil) {
        (self.images, self.imaging, self.folderLabels, self.speakers) = (images, imaging, folderLabels, speakers)
    }
}

/// Where a model or a classifier learns from.
public enum DataSource {
    /// A folder of audio clips; or of log-mel `.npy` files from `melforge spectrogram` made
    /// with `frontEnd` (searched recursively); or the output of `melforge convert` made with
    /// `frontEnd`. Every clip becomes a `[frontEnd.nMels, frames]` log-mel image, its label
    /// and speaker named by `naming` (files it does not match are reported and skipped).
    /// With `loudness` `.peak` every clip's image is moved to a peak of 0 dB.
    case audio(folder: String, frontEnd: FrontEndConfiguration, frames: Int, naming: ClipNaming = .folders, loudness: Loudness = .asRecorded)
    /// An MNIST IDX image file (plain or gzip) or a folder of PNG pictures; `labels` names
    /// the IDX labels file when it is not the images file's namesake.
    case images(path: String, labels: String?)

    /// The folder or file.
    public var path: String {
        switch self {
        case .audio(let folder, _, _, _, _): folder
        case .images(let path, _): path
        }
    }

    /// Reads the whole set; `report` gets one line saying what was read, and one per skipped
    /// file.
    public func load(report: (String) -> Void = { print($0) },
                     warn: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws -> LabelledImages {
        switch self {
        case .images(let path, _):
            if isDirectory(path) {
                let folder = try ImageFolder(folder: path)
                return LabelledImages(images: folder.images, imaging: nil, folderLabels: folder.labels.map { folder.classes[$0] })
            }
            return LabelledImages(images: try IDX.images(path), imaging: nil, folderLabels: nil)
        case .audio(let folder, let frontEnd, let frames, let naming, let loudness):
            return try AudioSet(folder: folder, frontEnd: frontEnd, frames: frames, naming: naming, loudness: loudness)
                .load(report: report, warn: warn)
        }
    }

    /// Class indices and sorted class names: from the folders, or from the IDX labels file.
    /// `purpose` names what needs the labels in errors ("--conditional", "a classifier").
    public func classLabels(_ folderNames: [String]?, count: Int, for purpose: String) throws -> ([Int], [String]) {
        if let folderNames {
            let classes = Array(Set(folderNames)).sorted()
            guard classes.count >= 2 else {
                throw UsageError("\(purpose) needs clips or pictures in at least two folders under '\(path)' (one folder per class), or labels in the file names (--layout, --label-pattern); found \(classes.count) class\(classes.count == 1 ? "" : "es")")
            }
            return (folderNames.map { classes.firstIndex(of: $0)! }, classes)
        }
        guard case .images(let images, let labels) = self else { preconditionFailure("audio data always has folder labels") }
        let labelsPath = labels ?? images.replacingOccurrences(of: "images-idx3", with: "labels-idx1")
        guard labelsPath != images, FileManager.default.fileExists(atPath: labelsPath) else {
            throw UsageError("\(purpose) with an IDX file needs its labels: pass --labels FILE")
        }
        let values = try IDX.labels(labelsPath)
        guard values.count == count else {
            throw InputError(file: labelsPath, problem: "holds \(values.count) labels for \(count) images")
        }
        let classes = Array(Set(values)).sorted()
        return (values.map { classes.firstIndex(of: $0)! }, classes.map(String.init))
    }
}

/// A folder of sound as images `[N, 1, nMels, frames]`: audio files, precomputed feature
/// arrays, or a converted folder (`melforge convert`, either format).
struct AudioSet {
    let folder: String
    let frontEnd: FrontEndConfiguration
    let frames: Int
    var naming = ClipNaming.folders
    var loudness = Loudness.asRecorded

    func load(report: (String) -> Void, warn: (String) -> Void) throws -> LabelledImages {
        guard isDirectory(folder) else { throw InputError(file: folder, problem: "is not a folder of audio files") }
        if FileManager.default.fileExists(atPath: folder + "/frontend.json") {
            return try loadConverted(report: report)
        }
        let audio = listFiles(folder, extensions: audioFileExtensions)
        let arrays = listFiles(folder, extensions: ["npy"])
        guard !audio.isEmpty || !arrays.isEmpty else {
            throw InputError(file: folder, problem: "holds no audio files (\(audioFileExtensions.sorted().joined(separator: ", "))) and no .npy features")
        }
        // Audio files when there are any; otherwise precomputed features (melforge spectrogram's
        // .npy files with their JSON), which must come from the same front end.
        let useArrays = audio.isEmpty
        let files = useArrays ? arrays : audio
        let melFrontEnd = try MelFrontEnd(frontEnd)
        var values: [Float] = []
        var names: [String] = []
        var speakers: [String] = []
        var skipped = 0
        for name in files {
            guard let described = naming.describe(name) else {
                skipped += 1
                warn("skipping: " + naming.mismatch(name))
                continue
            }
            do {
                values += useArrays ? try featuresFromArray(folder + "/" + name) : try featuresFromAudio(folder + "/" + name, melFrontEnd)
                names.append(described.label)
                if let speaker = described.speaker { speakers.append(speaker) }
            } catch {
                skipped += 1
                warn("skipping: \(error)")
            }
        }
        let count = files.count - skipped
        guard count > 0 else { throw InputError(file: folder, problem: "has no readable \(useArrays ? "feature array" : "audio file")") }
        report("\(count) \(useArrays ? "feature arrays" : "clips") from \(folder) as \(shapeText) log-mel images (\(skipped) skipped)"
               + (naming.hasSpeakers ? ", \(Set(speakers).count) speakers" : ""))
        return try normalizedImages(values, count: count, names: names, speakers: naming.hasSpeakers ? speakers : nil)
    }

    var shapeText: String { "\(frontEnd.nMels)x\(frames)" }

    /// The images in dB as a tensor in [-1, 1]: the top `AudioImaging.dynamicRange` dB of the
    /// whole set map to [-1, 1] and quieter cells are clamped to -1.
    func normalizedImages(_ decibels: [Float], count: Int, names: [String], speakers: [String]? = nil) throws -> LabelledImages {
        var values = decibels
        loudness.apply(&values, imageSize: frontEnd.nMels * frames)
        let peak = values.max() ?? 0
        let normalization = try LogMelNormalization(minDB: peak - AudioImaging.dynamicRange, maxDB: peak)
        normalization.normalize(&values)
        return LabelledImages(images: Tensor(shape: [count, 1, frontEnd.nMels, frames], values: values),
                              imaging: AudioImaging(frontEnd: frontEnd, normalization: normalization, loudness: loudness),
                              folderLabels: names,
                              speakers: speakers)
    }

    /// A clip cut or padded to `frames` frames, as a log-mel image in dB.
    func featuresFromAudio(_ path: String, _ melFrontEnd: MelFrontEnd) throws -> [Float] {
        let samples = try AudioFile.read(path, sampleRate: frontEnd.sampleRate).samples
        return try melFrontEnd.features(AudioImaging.fitted(samples, frames: frames, frontEnd: frontEnd), threads: 1).values
    }

    /// Whether features made with `other` are features of this front end (an unset f-max is
    /// the rate's Nyquist frequency either way).
    func accepts(_ other: FrontEndConfiguration) -> Bool { other == expected(like: other) }

    /// This front end with `other`'s f-max.
    func expected(like other: FrontEndConfiguration) -> FrontEndConfiguration {
        var expected = frontEnd
        expected.fMax = other.fMax
        return expected
    }

    /// What differs between features made with `other` and this front end ("nMels 80 vs
    /// 64"), and the flags that make features like this front end's ("--n-mels 64").
    func mismatch(_ other: FrontEndConfiguration) -> (differences: String, flags: String) {
        let wanted = expected(like: other)
        return (AudioImaging.differences(wanted, other).joined(separator: ", "), AudioImaging.flags(for: wanted, differingFrom: other))
    }

    /// A precomputed log-mel `[nMels, frames]` in dB (its JSON must show the training front
    /// end and no normalisation), cut or padded with its floor to `frames` frames.
    func featuresFromArray(_ path: String) throws -> [Float] {
        let sidecarPath = FeatureSidecar.path(forArray: path)
        guard FileManager.default.fileExists(atPath: sidecarPath) else {
            throw InputError(file: path, problem: "has no JSON beside it to say how it was made (melforge spectrogram writes one)")
        }
        let sidecar = try FeatureSidecar.read(sidecarPath)
        guard accepts(sidecar.frontEnd) else {
            let (differences, flags) = mismatch(sidecar.frontEnd)
            throw InputError(file: path, problem: "was made with other front-end settings than training's (\(differences)): make it with melforge spectrogram \(flags), or train with the flags it was made with")
        }
        guard sidecar.normalization == nil else {
            throw InputError(file: path, problem: "holds normalised features; training takes melforge spectrogram's features made without --normalize")
        }
        let array = try NPY.read(path, float32Only: true)
        return try image(shape: array.shape, values: array.values, source: path)
    }

    /// A log-mel `[nMels, frames]` in dB cut or padded with its floor to `frames` frames.
    func image(shape: [Int], values: [Float], source: String) throws -> [Float] {
        let bands = frontEnd.nMels
        guard shape.count == 2, shape[0] == bands, shape[1] >= 1 else {
            throw InputError(file: source, problem: "has shape \(shape); expected [\(bands), frames]")
        }
        let available = shape[1], floor = values.min() ?? 0
        return (0..<bands).flatMap { band in
            (0..<frames).map { t in t < available ? values[band * available + t] : floor }
        }
    }

    /// The output of `melforge convert` (either format): frontend.json says how the features
    /// were made, manifest.jsonl lists the converted clips with their labels and where each
    /// one is (a .npy file, or a tensor in a shard).
    func loadConverted(report: (String) -> Void) throws -> LabelledImages {
        let settingsPath = folder + "/frontend.json"
        let settings = try readFrontEndDescription(settingsPath)
        guard accepts(settings) else {
            let (differences, flags) = mismatch(settings)
            throw InputError(file: settingsPath, problem: "shows features made with other front-end settings than training's (\(differences)): convert with \(flags), or train with the flags they were made with")
        }
        let manifestPath = folder + "/manifest.jsonl"
        guard FileManager.default.fileExists(atPath: manifestPath) else {
            throw InputError(file: manifestPath, problem: "is missing; a sharded conversion needs 'melforge convert --merge \(folder)' first")
        }
        // Each clip's file inside the folder (so a moved folder still trains), shard by shard so
        // that each shard is read once.
        let records = Manifest.read(manifestPath).records
            .filter { $0.status == .converted && $0.file != nil }
            .sorted { ($0.file!, $0.tensor ?? "") < ($1.file!, $1.tensor ?? "") }
        var clips: [(source: String, image: [Float], label: String, speaker: String?)] = []
        var shard: (path: String, tensors: [String: NamedTensor])?
        var skipped = 0
        for record in records {
            // The label and speaker convert recorded, or, with a naming of its own, the naming's
            // reading of the source's path.
            let described: (label: String, speaker: String?)? = naming.isFolders
                ? (record.label, record.speaker) : naming.describe(record.source)
            guard let described else {
                skipped += 1
                continue
            }
            let output = folder + "/" + record.file!
            if let name = record.tensor {
                if shard?.path != output {
                    let contents = try SafeTensors.read(output).tensors
                    shard = (output, Dictionary(contents.map { ($0.name, $0) }) { first, _ in first })
                }
                guard let tensor = shard?.tensors[name] else {
                    throw InputError(file: output, problem: "has no tensor '\(name)' although \(manifestPath) says so")
                }
                let image = try image(shape: tensor.shape, values: tensor.values, source: output + ":" + name)
                clips.append((record.source, image, described.label, described.speaker))
            } else {
                let array = try NPY.read(output, float32Only: true)
                clips.append((record.source, try image(shape: array.shape, values: array.values, source: output), described.label,
                              described.speaker))
            }
        }
        guard !clips.isEmpty else { throw InputError(file: manifestPath, problem: "lists no converted clips") }
        // In the order of the source files, as training on the audio folder itself would see them.
        clips.sort { $0.source < $1.source }
        report("\(clips.count) converted clips from \(folder) as \(shapeText) log-mel images"
               + (skipped > 0 ? " (\(skipped) not matching \(naming.description), skipped)" : ""))
        let speakers = clips.compactMap(\.speaker)
        return try normalizedImages(clips.flatMap(\.image), count: clips.count, names: clips.map(\.label),
                                    speakers: speakers.count == clips.count ? speakers : nil)
    }
}

/// A front-end description written by `melforge convert` (frontend.json).
func readFrontEndDescription(_ path: String) throws -> FrontEndConfiguration {
    do {
        return try JSONDecoder().decode(FrontEndConfiguration.self, from: Data(readFileBytes(path)))
    } catch {
        throw InputError(file: path, problem: "is not a front-end description: \(error)")
    }
}

/// How loud each clip is made before it becomes an image (`--loudness`). Recordings of
/// different speakers come at different levels; a model that sees them as they are spends
/// capacity on the level, and a judge trained on some speakers hears others' level as a
/// difference of class.
public enum Loudness: String, Codable, CaseIterable, Sendable {
    /// As recorded: the set's loudest cell is the top of the range.
    case asRecorded = "as-recorded"
    /// Each clip's image moved (a gain, in dB) so that its loudest cell is 0 dB.
    case peak

    public static let help = "How loud each clip is made before training: as-recorded (the default) or peak (each clip's log-mel moved so that its loudest cell is 0 dB: one level for every speaker and recording). Stored with the model or classifier, which read every clip the same way."

    /// Applies this to images of `imageSize` dB values each.
    public func apply(_ decibels: inout [Float], imageSize: Int) {
        guard self == .peak, imageSize > 0 else { return }
        for start in stride(from: 0, to: decibels.count, by: imageSize) {
            let range = start..<min(decibels.count, start + imageSize)
            guard let peak = decibels[range].max(), peak.isFinite else { continue }
            for i in range { decibels[i] -= peak }
        }
    }
}
