import ArgumentParser
import AudioIO
import Datasets
import FileFormats
import Foundation
import Models
import Spectral
import Tensors
import Training

extension TrainingConfiguration.Model: ExpressibleByArgument {}
extension GANLoss: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a convolutional GAN or VAE on audio clips (as log-mel images) or on images.",
        discussion: """
            --data DIR: every audio file under DIR, cut or padded to 16,128 samples at 16 kHz and \
            turned into a 64-band x 64-frame log-mel image, normalised to [-1, 1] over the \
            top 80 dB of the whole set (the range is stored in the checkpoint). DIR may also hold \
            'melforge spectrogram --n-mels 64' .npy files with their JSON, or be the output of \
            'melforge convert --n-mels 64' (.npy files or shards). \
            --images PATH: an MNIST IDX file (plain or .gz) or a folder of PNGs.

            RUN_DIR receives checkpoint.safetensors (weights, Adam's state, random state, \
            configuration; written atomically every --checkpoint-every steps), log.jsonl (one line \
            per logged step), samples.png (a grid from fixed latents) and losses.svg; for audio also \
            samples/sample-N.npy with their JSON, which 'melforge invert' turns into WAV files. --resume \
            continues a killed run from its last checkpoint, with the same losses as an \
            uninterrupted run. A NaN or infinite loss stops training and keeps the last good \
            checkpoint.
            """)

    @Argument(help: "gan or vae.")
    var model: TrainingConfiguration.Model

    @Option(help: "A folder of audio clips, of log-mel .npy files from 'melforge spectrogram --n-mels 64' (searched recursively), or the output of 'melforge convert --n-mels 64' (.npy files or shards).")
    var data: String?

    @Option(help: "An MNIST IDX image file (plain or .gz) or a folder of PNG pictures.")
    var images: String?

    @Option(help: "The run's folder.")
    var out: String

    @Option(help: "Training steps (one batch each).")
    var steps: Int?

    @Option(help: "Passes over the data (instead of --steps).")
    var epochs: Int?

    @Option(help: "Images per step.")
    var batchSize = 64

    @Option(help: "Adam's learning rate.")
    var lr: Float = 2e-4

    @Option(help: "GAN loss: hinge (with spectral normalisation; the default for --data) or bce (the default for --images).")
    var loss: GANLoss?

    @Option(help: "Seed of the weights, the batches and the latents.")
    var seed: UInt64 = 0

    @Flag(help: "Condition the model on class labels: each clip's or picture's parent folder, or an IDX labels file.")
    var conditional = false

    @Option(help: "With --conditional and an IDX image file: its labels file (default: the images file's name with 'images-idx3' -> 'labels-idx1').")
    var labels: String?

    @Option(help: "Latent size (default: 100 for the GAN, 64 for the VAE).")
    var latentSize: Int?

    @Option(help: "Feature widths from the image inwards, comma-separated (default: 32 doubling per stage, at most 256).")
    var widths: String?

    @Option(help: "Save a checkpoint, samples and the loss curve every this many steps.")
    var checkpointEvery = 200

    @Option(help: "Write a log line every this many steps.")
    var logEvery = 10

    @Flag(help: "Continue the run in --out from its last checkpoint.")
    var resume = false

    func validate() throws {
        guard (data == nil) != (images == nil) else { throw ValidationError("give exactly one of --data DIR and --images PATH") }
        guard (steps == nil) || (epochs == nil) else { throw ValidationError("give --steps or --epochs, not both") }
        if let steps, steps < 1 { throw ValidationError("--steps \(steps) is not accepted; expected 1 or more") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs \(epochs) is not accepted; expected 1 or more") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size \(batchSize) is not accepted; expected 1 or more") }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr \(lr) is not accepted; expected a positive number") }
        guard checkpointEvery >= 1, logEvery >= 1 else {
            throw ValidationError("--checkpoint-every and --log-every must be 1 or more")
        }
        if let widths, parseWidths(widths) == nil {
            throw ValidationError("--widths '\(widths)' is not accepted; expected positive integers separated by commas")
        }
    }

    func run() throws {
        let (dataset, normalization, folderLabels) = try loadData()
        let (labelIndices, classNames) = try conditional ? classLabels(folderLabels, count: dataset.shape[0]) : (nil, nil)
        let checkpointPath = out + "/checkpoint.safetensors"
        let existing = FileManager.default.fileExists(atPath: checkpointPath)
        if existing && !resume {
            throw CommandError("'\(out)' already holds a run; pass --resume to continue it, or choose another --out")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        let training: TrainingRun
        var log: [String]
        if resume && existing {
            let file = try SafeTensors.read(checkpointPath)
            let configuration = try TrainingRun.configuration(of: file, path: checkpointPath)
            guard configuration.imageSize == dataset.shape[2], configuration.channels == dataset.shape[1] else {
                throw InputError(file: checkpointPath, problem: "was trained on \(configuration.channels)x\(configuration.imageSize)x\(configuration.imageSize) images, the data is \(dataset.shape.dropFirst().map(String.init).joined(separator: "x"))")
            }
            guard (configuration.classes == nil) == (classNames == nil) else {
                throw InputError(file: checkpointPath, problem: "is \(configuration.classes == nil ? "an unconditional" : "a conditional") run; \(conditional ? "drop" : "add") --conditional to resume it")
            }
            training = TrainingRun(configuration: configuration, data: dataset, labels: labelIndices)
            try training.restore(from: file, path: checkpointPath)
            log = readLog().filter { (decodeStep($0) ?? Int.max) <= training.step }
            print("resuming \(out) at step \(training.step)")
        } else {
            var configuration = try makeConfiguration(dataset)
            configuration.classes = classNames
            training = TrainingRun(configuration: configuration, data: dataset, labels: labelIndices)
            log = []
        }
        let total = steps ?? (epochs.map { $0 * training.batchesPerEpoch } ?? 2_000)
        var metadata = ["data": data ?? images!]
        if let normalization {
            metadata["normalization"] = String(decoding: try JSONEncoder().encode(normalization), as: UTF8.self)
            metadata["front_end"] = String(decoding: try JSONEncoder().encode(Self.frontEnd), as: UTF8.self)
        }
        let progress = ProgressBar(total: total, label: "train \(model.rawValue)", unit: "steps")
        let started = Date()
        let firstStep = training.step
        while training.step < total {
            let losses = training.trainStep()
            if let bad = losses.first(where: { !$0.value.isFinite }) {
                progress.finish()
                throw TrainingError.diverged(step: training.step, loss: bad.key, value: bad.value, checkpoint: checkpointPath)
            }
            let rate = Double((training.step - firstStep) * training.configuration.batchSize) / Date().timeIntervalSince(started)
            progress.update(training.step, note: losses.sorted { $0.key < $1.key }
                .map { "\($0.key) \(String(format: "%.3f", $0.value))" }.joined(separator: "  ") + String(format: "  %.0f samples/s", rate))
            if training.step % logEvery == 0 || training.step == total {
                log.append(logLine(step: training.step, losses: losses, rate: rate))
            }
            if training.step % checkpointEvery == 0 || training.step == total {
                try training.save(to: checkpointPath, metadata: metadata)
                try AtomicFile.write(Array((log.joined(separator: "\n") + "\n").utf8), to: out + "/log.jsonl")
                try writeSamples(training, normalization: normalization)
                try LossCurve.write(log: log, to: out + "/losses.svg")
            }
        }
        progress.finish()
        print("\(out): \(training.step) steps; checkpoint, log.jsonl, samples.png and losses.svg written")
    }

    // MARK: Data

    /// The front end for --data: 64 mel bands, 64 frames of 16,128 samples at 16 kHz.
    static let frontEnd: FrontEndConfiguration = {
        var c = FrontEndConfiguration()
        c.nMels = 64
        return c
    }()
    static let clipSamples = 63 * 256

    /// The images, the normalisation (audio only) and each image's class name (its parent
    /// folder's; nil for IDX files, whose labels are a file of their own).
    func loadData() throws -> (Tensor, LogMelNormalization?, [String]?) {
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
        let audioExtensions: Set<String> = ["wav", "flac", "ogg", "oga", "aiff", "aif"]
        let all = (FileManager.default.enumerator(atPath: folder)?.compactMap { $0 as? String } ?? []).sorted()
        let audio = all.filter { audioExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
        let arrays = all.filter { ($0 as NSString).pathExtension.lowercased() == "npy" }
        guard !audio.isEmpty || !arrays.isEmpty else {
            throw InputError(file: folder, problem: "holds no audio files (\(audioExtensions.sorted().joined(separator: ", "))) and no .npy features")
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
    func classLabels(_ folderNames: [String]?, count: Int) throws -> ([Int], [String]) {
        if let folderNames {
            let classes = Array(Set(folderNames)).sorted()
            guard classes.count >= 2 else {
                throw CommandError("--conditional needs clips or pictures in at least two folders (one per class); found \(classes.count)")
            }
            return (folderNames.map { classes.firstIndex(of: $0)! }, classes)
        }
        let path = labels ?? images!.replacingOccurrences(of: "images-idx3", with: "labels-idx1")
        guard path != images, FileManager.default.fileExists(atPath: path) else {
            throw CommandError("--conditional with an IDX file needs its labels: pass --labels FILE")
        }
        let values = try IDX.labels(path)
        guard values.count == count else {
            throw InputError(file: path, problem: "holds \(values.count) labels for \(count) images")
        }
        let classes = Array(Set(values)).sorted()
        return (values.map { classes.firstIndex(of: $0)! }, classes.map(String.init))
    }

    func makeConfiguration(_ dataset: Tensor) throws -> TrainingConfiguration {
        let size = dataset.shape[2]
        guard dataset.shape[3] == size else { throw CommandError("images must be square; got \(dataset.shape[2])x\(dataset.shape[3])") }
        let chosen = widths.flatMap(parseWidths) ?? defaultWidths(imageSize: size)
        guard let chosen, chosen.count >= 1, (size >> chosen.count) >= 2, (size >> chosen.count) << chosen.count == size else {
            throw CommandError("image side \(size) is not B * 2^k with B >= 2 for \(widths.map { "--widths \($0)" } ?? "any stage count"); use 28, 32, 56, 64, ...")
        }
        var configuration = TrainingConfiguration(model: model, channels: dataset.shape[1], imageSize: size,
                                                  latentSize: latentSize ?? (model == .gan ? 100 : 64), widths: chosen,
                                                  batchSize: batchSize, learningRate: lr, seed: seed)
        configuration.loss = loss ?? (data != nil ? .hinge : .bce)
        return configuration
    }

    /// 32 doubling per stage (at most 256) for as many stages as halve the image down to 4..7.
    func defaultWidths(imageSize: Int) -> [Int]? {
        var stages = 0
        while (imageSize >> (stages + 1)) >= 4 && (imageSize >> (stages + 1)) << (stages + 1) == imageSize { stages += 1 }
        return stages == 0 ? nil : (0..<stages).map { min(256, 32 << $0) }
    }

    func parseWidths(_ text: String) -> [Int]? {
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return parts.map { $0! }
    }

    // MARK: Outputs

    func logLine(step: Int, losses: [String: Float], rate: Double) -> String {
        let fields = losses.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }
        return "{\"step\": \(step), " + fields.joined(separator: ", ") + ", \"samples_per_s\": \(String(format: "%.1f", rate))}"
    }

    func readLog() -> [String] {
        guard let text = try? String(contentsOfFile: out + "/log.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init)
    }

    func decodeStep(_ line: String) -> Int? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["step"] as? Int
    }

    /// samples.png, and for audio the first four samples as normalised log-mel .npy files with
    /// their sidecar JSON, which `melforge invert` turns into sound.
    func writeSamples(_ training: TrainingRun, normalization: LogMelNormalization?) throws {
        let audio = normalization != nil
        let samples = training.samples(count: 16)
        let (h, w) = (samples.shape[2], samples.shape[3])
        var tiles: [PixelImage] = []
        for n in 0..<samples.shape[0] {
            let values = Array(samples.values[(n * samples.count / 16)..<((n + 1) * samples.count / 16)].prefix(h * w))
            tiles.append(Heatmap.render(values, rows: h, columns: w, range: -1...1, colorMap: audio ? .magma : .gray,
                                        lowRowAtBottom: audio, cellSize: (max(1, 96 / w), max(1, 96 / h))))
        }
        try PNG.write(Heatmap.grid(tiles, columns: 4), to: out + "/samples.png")
        guard let normalization else { return }
        try FileManager.default.createDirectory(atPath: out + "/samples", withIntermediateDirectories: true)
        for n in 0..<4 {
            let path = out + "/samples/sample-\(n + 1).npy"
            let values = Array(samples.values[(n * h * w)..<((n + 1) * h * w)])
            try NPY.write(NumPyArray(shape: [h, w], values: values), to: path)
            try FeatureSidecar(frontEnd: Self.frontEnd, normalization: normalization, samples: Self.clipSamples, source: nil)
                .write(to: FeatureSidecar.path(forArray: path))
        }
    }
}

enum TrainingError: Error, CustomStringConvertible {
    case diverged(step: Int, loss: String, value: Float, checkpoint: String)

    var description: String {
        switch self {
        case .diverged(let step, let loss, let value, let checkpoint):
            let kept = FileManager.default.fileExists(atPath: checkpoint)
                ? "the last good checkpoint is '\(checkpoint)'" : "no checkpoint had been written yet"
            return "training diverged at step \(step): the \(loss) loss is \(value); stopped, \(kept) (try a lower --lr)"
        }
    }
}
