import ArgumentParser
import AudioIO
import FileFormats
import Foundation
import Spectral
import Tensors
import Training

struct SynthesizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthesize",
        abstract: "Generate clips (or images) from a trained model, with a page to hear them.",
        discussion: """
            Samples latents (the GAN's z, the VAE's prior), draws mel images, undoes the \
            normalisation stored in the checkpoint, inverts them with the vocoder and writes \
            clip-NNN.wav (16-bit PCM at the model's sample rate) with clip-NNN.png, and \
            index.html, a page that plays every clip beside its spectrogram (it works opened from \
            disk). Models trained on images write image-NNN.png and grid.png instead.
            """)

    @Option(help: "A run folder (its checkpoint.safetensors) or a checkpoint file.")
    var checkpoint: String

    @Option(name: .shortAndLong, help: "Output folder.")
    var output: String

    @Option(help: "How many clips or images.")
    var count = 16

    @Option(help: "For a conditional model: the class to draw (a folder name the model was trained on).")
    var label: String?

    @Option(help: "Truncation: latent values beyond +-T are redrawn (less variety, fewer odd samples).")
    var truncation: Float?

    @Flag(help: "Write into an output folder that already holds files.")
    var overwrite = false

    @OptionGroup(title: "Vocoder")
    var vocoder: VocoderOptions

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count \(count) is not accepted; expected 1 or more") }
        if let truncation, !(truncation > 0) {
            throw ValidationError("--truncation \(truncation) is not accepted; expected a positive number")
        }
    }

    func run() throws {
        let path = isDirectory(checkpoint) ? checkpoint + "/checkpoint.safetensors" : checkpoint
        let model = try TrainedModel(checkpoint: path)
        let configuration = model.configuration
        var labels: [Int]? = nil
        if let classes = configuration.classes {
            if let label {
                guard let index = classes.firstIndex(of: label) else {
                    throw CommandError("--label '\(label)' is not a class of this model; its classes: \(classes.joined(separator: ", "))")
                }
                labels = Array(repeating: index, count: count)
            } else {
                labels = (0..<count).map { $0 % classes.count }
            }
        } else if let label {
            throw CommandError("--label '\(label)': this model was trained without classes (train with --conditional)")
        }
        try prepareOutputFolder()

        let modelStart = Date()
        // --seed (the vocoder's option) seeds the latents as well as the initial phases.
        let images = model.images(latents: model.latents(count: count, truncation: truncation, seed: vocoder.seed),
                                  labels: labels)
        let modelSeconds = Date().timeIntervalSince(modelStart)
        let names = labels.map { $0.map { configuration.classes![$0] } }

        guard let normalizationText = model.metadata["normalization"], let frontEndText = model.metadata["front_end"] else {
            try writeImages(images)
            print("\(output): \(count) images (image-NNN.png, grid.png) in \(String(format: "%.2f", modelSeconds)) s")
            return
        }
        let normalization = try JSONDecoder().decode(LogMelNormalization.self, from: Data(normalizationText.utf8))
        let frontEnd = try JSONDecoder().decode(FrontEndConfiguration.self, from: Data(frontEndText.utf8))
        let vocoderStart = Date()
        let vocoder = try self.vocoder.vocoder(for: frontEnd)
        let (h, w) = (images.shape[2], images.shape[3])
        let features = (0..<count).map { n in
            Spectrogram(bins: h, frames: w, values: Array(images.values[(n * h * w)..<((n + 1) * h * w)]))
        }
        let magnitudes = try features.map { try vocoder.magnitude(fromMel: vocoder.melSpectrogram(fromFeatures: $0, normalization: normalization)) }
        let clips = try vocoder.griffinLim.reconstruct(magnitudes, threads: ProcessInfo.processInfo.activeProcessorCount)
        let vocoderSeconds = Date().timeIntervalSince(vocoderStart)

        var entries: [ClipPage.Entry] = []
        for (n, clip) in clips.enumerated() {
            // Peak-normalised to -1 dBFS when louder: a generated mel can ask for more than full scale.
            let peak = clip.samples.map(abs).max() ?? 0
            let gain: Float = peak > 0.891 ? 0.891 / peak : 1
            let name = String(format: "clip-%03d", n + 1)
            try AudioFile.write(clip.samples.map { $0 * gain }, sampleRate: frontEnd.sampleRate, to: output + "/\(name).wav")
            var db = features[n].values
            normalization.denormalize(&db)
            let picture = Heatmap.render(db, rows: h, columns: w, range: normalization.minDB...normalization.maxDB,
                                         colorMap: .magma, cellSize: Heatmap.cellSize(rows: h, columns: w, minimum: 192))
            try PNG.write(picture, to: output + "/\(name).png")
            entries.append(.init(name: name, label: names?[n], convergence: clip.finalConvergence))
        }
        try ClipPage(entries: entries, configuration: configuration, checkpoint: path,
                     runFolder: isDirectory(checkpoint) ? checkpoint : nil).write(to: output + "/index.html")
        let total = modelSeconds + vocoderSeconds
        print("\(output): \(count) clips (clip-NNN.wav, clip-NNN.png, index.html); "
              + String(format: "%.1f clips/s: model %.2f s, vocoder %.2f s (%d Griffin-Lim iterations)",
                       Double(count) / total, modelSeconds, vocoderSeconds, self.vocoder.iterations))
    }

    func prepareOutputFolder() throws {
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
        if !existing.isEmpty && !overwrite {
            throw CommandError("--output '\(output)' already holds \(existing.count) files; choose an empty folder or pass --overwrite")
        }
        if FileManager.default.fileExists(atPath: output) && !isDirectory(output) {
            throw CommandError("--output '\(output)' is a file, not a folder")
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    }

    func writeImages(_ images: Tensor) throws {
        let (c, h, w) = (images.shape[1], images.shape[2], images.shape[3])
        var tiles: [PixelImage] = []
        for n in 0..<images.shape[0] {
            let values = Array(images.values[(n * c * h * w)..<(n * c * h * w + h * w)])  // first channel
            let tile = Heatmap.render(values, rows: h, columns: w, range: -1...1, colorMap: .gray, lowRowAtBottom: false,
                                      cellSize: (max(1, 96 / w), max(1, 96 / h)))
            try PNG.write(tile, to: output + String(format: "/image-%03d.png", n + 1))
            tiles.append(tile)
        }
        try PNG.write(Heatmap.grid(tiles, columns: min(8, tiles.count)), to: output + "/grid.png")
    }
}
