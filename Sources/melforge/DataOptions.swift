import ArgumentParser
import AudioIO
import Datasets
import FileFormats
import Foundation
import Spectral
import Tensors

/// Where a model or a classifier learns from: `--data` (audio clips as 64x64 log-mel images,
/// precomputed features, or a converted folder) or `--images` (MNIST IDX, PNG folders), with
/// each item's class name for the commands that need labels.
struct DataOptions: ParsableArguments {
    @Option(help: "A folder of audio clips, of log-mel .npy files from 'melforge spectrogram --n-mels 64' (searched recursively), or the output of 'melforge convert --n-mels 64' (.npy files or shards). Labels come from each file's parent folder.")
    var data: String?

    @Option(help: "An MNIST IDX image file (plain or .gz) or a folder of PNG pictures (labelled by their parent folder).")
    var images: String?

    @Option(help: "For an IDX image file, its labels file when labels are needed (default: the images file's name with 'images-idx3' -> 'labels-idx1').")
    var labels: String?

    func validate() throws {
        guard (data == nil) != (images == nil) else { throw ValidationError("give exactly one of --data DIR and --images PATH") }
    }

    /// The --data or --images path.
    var path: String { data ?? images! }

    /// The front end for --data: 64 mel bands, 64 frames of 16,128 samples at 16 kHz.
    static let frontEnd: FrontEndConfiguration = {
        var c = FrontEndConfiguration()
        c.nMels = 64
        return c
    }()
    static let clipSamples = 63 * 256

    /// The images, the normalisation (audio only) and each image's class name (its parent
    /// folder's; nil for IDX files, whose labels are a file of their own).
    func load() throws -> (Tensor, LogMelNormalization?, [String]?) {
        if let images {
            if isDirectory(images) {
                let folder = try ImageFolder(folder: images)
                return (folder.images, nil, folder.labels.map { folder.classes[$0] })
            }
            return (try IDX.images(images), nil, nil)
        }
        let folder = data!
        guard isDirectory(folder) else { throw InputError(file: folder, problem: "is not a folder of audio files") }
        if FileManager.default.fileExists(atPath: folder + "/frontend.json") {
            return try loadConverted(folder)
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
        let frontEnd = try MelFrontEnd(Self.frontEnd)
        var values: [Float] = []
        var names: [String] = []
        var skipped = 0
        for name in files {
            do {
                values += useArrays ? try featuresFromArray(folder + "/" + name) : try featuresFromAudio(folder + "/" + name, frontEnd)
                let parts = name.split(separator: "/")
                names.append(parts.count > 1 ? String(parts[parts.count - 2]) : "")
            } catch {
                skipped += 1
                FileHandle.standardError.write(Data("skipping: \(error)\n".utf8))
            }
        }
        let count = files.count - skipped
        guard count > 0 else { throw InputError(file: folder, problem: "has no readable \(useArrays ? "feature array" : "audio file")") }
        print("\(count) \(useArrays ? "feature arrays" : "clips") from \(folder) as 64x64 log-mel images (\(skipped) skipped)")
        return try Self.normalizedImages(values, count: count, names: names)
    }

    /// The images in dB as a tensor in [-1, 1]: the top 80 dB of the whole set map to
    /// [-1, 1] and quieter cells are clamped to -1.
    static func normalizedImages(_ decibels: [Float], count: Int, names: [String]) throws -> (Tensor, LogMelNormalization?, [String]?) {
        var values = decibels
        let peak = values.max() ?? 0
        let normalization = try LogMelNormalization(minDB: peak - 80, maxDB: peak)
        normalization.normalize(&values)
        return (Tensor(shape: [count, 1, 64, 64], values: values), normalization, names)
    }

    /// A clip cut or padded to 16,128 samples, as a 64x64 log-mel image in dB.
    func featuresFromAudio(_ path: String, _ frontEnd: MelFrontEnd) throws -> [Float] {
        var samples = try AudioFile.read(path, sampleRate: Self.frontEnd.sampleRate).samples
        samples = Array(samples.prefix(Self.clipSamples)) + [Float](repeating: 0, count: max(0, Self.clipSamples - samples.count))
        return try frontEnd.features(samples, threads: 1).values
    }

    /// A precomputed log-mel `[64, frames]` in dB (its JSON must show the training front end
    /// and no normalisation), cut or padded with its floor to 64 frames.
    func featuresFromArray(_ path: String) throws -> [Float] {
        let sidecarPath = FeatureSidecar.path(forArray: path)
        guard FileManager.default.fileExists(atPath: sidecarPath) else {
            throw InputError(file: path, problem: "has no JSON beside it to say how it was made (melforge spectrogram writes one)")
        }
        let sidecar = try FeatureSidecar.read(sidecarPath)
        var expected = Self.frontEnd
        expected.fMax = sidecar.frontEnd.fMax
        guard sidecar.frontEnd == expected, sidecar.normalization == nil else {
            throw InputError(file: path, problem: "was made with other front-end settings; training needs melforge spectrogram --n-mels 64 with the other defaults and no --normalize")
        }
        let array = try NPY.read(path, float32Only: true)
        return try Self.image(shape: array.shape, values: array.values, source: path)
    }

    /// A log-mel `[64, frames]` in dB cut or padded with its floor to a 64x64 image.
    static func image(shape: [Int], values: [Float], source: String) throws -> [Float] {
        guard shape.count == 2, shape[0] == 64, shape[1] >= 1 else {
            throw InputError(file: source, problem: "has shape \(shape); expected [64, frames]")
        }
        let frames = shape[1], floor = values.min() ?? 0
        return (0..<64).flatMap { band in
            (0..<64).map { t in t < frames ? values[band * frames + t] : floor }
        }
    }

    /// The output of `melforge convert --n-mels 64` (either format): frontend.json says how the
    /// features were made, manifest.jsonl lists the converted clips with their labels and where
    /// each one is (a .npy file, or a tensor in a shard).
    func loadConverted(_ folder: String) throws -> (Tensor, LogMelNormalization?, [String]?) {
        let settingsPath = folder + "/frontend.json"
        let settings: FrontEndConfiguration
        do {
            settings = try JSONDecoder().decode(FrontEndConfiguration.self, from: Data(readFileBytes(settingsPath)))
        } catch {
            throw InputError(file: settingsPath, problem: "is not a front-end description: \(error)")
        }
        var expected = Self.frontEnd
        expected.fMax = settings.fMax
        guard settings == expected else {
            throw InputError(file: settingsPath, problem: "shows features made with other front-end settings; training needs melforge convert --n-mels 64 with the other defaults")
        }
        let manifestPath = folder + "/manifest.jsonl"
        guard let text = try? String(contentsOfFile: manifestPath, encoding: .utf8) else {
            throw InputError(file: manifestPath, problem: "is missing; a sharded conversion needs 'melforge convert --merge \(folder)' first")
        }
        // Each clip's file inside the folder (so a moved folder still trains), shard by shard so
        // that each shard is read once.
        let records = text.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["status"] as? String == "converted" && $0["file"] is String }
            .map { record in (path: folder + "/" + (record["file"] as! String), record: record) }
            .sorted { ($0.path, $0.record["tensor"] as? String ?? "") < ($1.path, $1.record["tensor"] as? String ?? "") }
        var clips: [(source: String, image: [Float], label: String)] = []
        var shard: (path: String, tensors: [String: NamedTensor])?
        for (output, record) in records {
            if let name = record["tensor"] as? String {
                if shard?.path != output {
                    let contents = try SafeTensors.read(output).tensors
                    shard = (output, Dictionary(contents.map { ($0.name, $0) }) { first, _ in first })
                }
                guard let tensor = shard?.tensors[name] else {
                    throw InputError(file: output, problem: "has no tensor '\(name)' although \(manifestPath) says so")
                }
                let image = try Self.image(shape: tensor.shape, values: tensor.values, source: output + ":" + name)
                clips.append((record["source"] as? String ?? "", image, record["label"] as? String ?? ""))
            } else {
                let array = try NPY.read(output, float32Only: true)
                let image = try Self.image(shape: array.shape, values: array.values, source: output)
                clips.append((record["source"] as? String ?? "", image, record["label"] as? String ?? ""))
            }
        }
        guard !clips.isEmpty else { throw InputError(file: manifestPath, problem: "lists no converted clips") }
        // In the order of the source files, as training on the audio folder itself would see them.
        clips.sort { $0.source < $1.source }
        print("\(clips.count) converted clips from \(folder) as 64x64 log-mel images")
        return try Self.normalizedImages(clips.flatMap(\.image), count: clips.count, names: clips.map(\.label))
    }

    /// Class indices and sorted class names: from the folders, or from the IDX labels file.
    /// `purpose` names what needs the labels in errors ("--conditional", "a classifier").
    func classLabels(_ folderNames: [String]?, count: Int, for purpose: String) throws -> ([Int], [String]) {
        if let folderNames {
            let classes = Array(Set(folderNames)).sorted()
            guard classes.count >= 2 else {
                throw CommandError("\(purpose) needs clips or pictures in at least two folders under '\(path)' (one folder per class); found \(classes.count)")
            }
            return (folderNames.map { classes.firstIndex(of: $0)! }, classes)
        }
        let path = labels ?? images!.replacingOccurrences(of: "images-idx3", with: "labels-idx1")
        guard path != images, FileManager.default.fileExists(atPath: path) else {
            throw CommandError("\(purpose) with an IDX file needs its labels: pass --labels FILE")
        }
        let values = try IDX.labels(path)
        guard values.count == count else {
            throw InputError(file: path, problem: "holds \(values.count) labels for \(count) images")
        }
        let classes = Array(Set(values)).sorted()
        return (values.map { classes.firstIndex(of: $0)! }, classes.map(String.init))
    }

}

/// The extensions of the audio formats libsndfile reads.
let audioFileExtensions: Set<String> = ["wav", "wave", "flac", "ogg", "oga", "aiff", "aif", "aifc", "au", "snd", "caf", "w64",
                                        "rf64", "mp3"]

/// The files under `folder` (recursively) with one of `extensions` (lower case), relative to
/// it and sorted, without the temporary files of an interrupted atomic write.
func listFiles(_ folder: String, extensions: Set<String>) -> [String] {
    (FileManager.default.enumerator(atPath: folder)?.compactMap { $0 as? String } ?? [])
        .filter {
            extensions.contains(($0 as NSString).pathExtension.lowercased())
                && !AtomicFile.isLeftover(fileName: ($0 as NSString).lastPathComponent)
        }
        .sorted()
}
