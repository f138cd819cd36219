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

    @Option(help: "Draw latents from a policy made by 'melforge steer' for this model instead of the prior.")
    var policy: String?

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
        let path = checkpointPath(checkpoint)
        let model = try TrainedModel(checkpoint: path)
        let configuration = model.configuration
        let chosen = try labelIndex(label, of: model)
        let labels = configuration.classes.map { classes in (0..<count).map { chosen ?? $0 % classes.count } }
        let audio = try ModelAudio(model, vocoder: vocoder, path: path)
        let steered = try policy.map { try steeredPolicy($0, for: model, modelPath: path) }
        try prepareOutputFolder(output, overwrite: overwrite)

        let modelStart = Date()
        // --seed (the vocoder's option) seeds the latents as well as the initial phases.
        let latents: Tensor
        if let steered {
            var random = RandomNumbers(seed: vocoder.seed)
            latents = steered.policy.sample(count: count, truncation: truncation, random: &random).latents
        } else {
            latents = model.latents(count: count, truncation: truncation, seed: vocoder.seed)
        }
        let images = model.images(latents: latents, labels: labels)
        let modelSeconds = Date().timeIntervalSince(modelStart)
        guard let audio else {
            try writeImages(images)
            print("\(output): \(count) images (image-NNN.png, grid.png) in \(String(format: "%.2f", modelSeconds)) s")
            return
        }
        let vocoderStart = Date()
        let names = (1...count).map { String(format: "clip-%03d", $0) }
        let written = try audio.write(images, names: names, into: output)
        let vocoderSeconds = Date().timeIntervalSince(vocoderStart)
        let entries = written.enumerated().map { i, clip in
            ClipPage.Entry(name: clip.name, label: labels.map { configuration.classes![$0[i]] }, convergence: clip.convergence)
        }
        try ClipPage(entries: entries, configuration: configuration, checkpoint: path,
                     runFolder: isDirectory(checkpoint) ? checkpoint : nil,
                     policy: steered.map { (policy!, $0.metadata) }).write(to: output + "/index.html")
        let total = modelSeconds + vocoderSeconds
        print("\(output): \(count) clips (clip-NNN.wav, clip-NNN.png, index.html); "
              + String(format: "%.1f clips/s: model %.2f s, vocoder %.2f s (%d Griffin-Lim iterations)",
                       Double(count) / total, modelSeconds, vocoderSeconds, vocoder.iterations))
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

    /// The policy in `path`, which must have been steered for this very generator.
    func steeredPolicy(_ path: String, for model: TrainedModel, modelPath: String) throws -> (policy: LatentPolicy, metadata: [String: String]) {
        let (policy, metadata) = try Steering.loadPolicy(path)
        guard steeredFor(metadata) == model.configuration, policy.latentSize == model.configuration.latentSize else {
            throw CommandError("--policy '\(path)' was steered for generator '\(metadata["generator"] ?? "?")', not for '\(modelPath)' (another configuration)")
        }
        if let step = metadata["generator_step"], step != model.metadata["step"] {
            FileHandle.standardError.write(Data("warning: --policy '\(path)' was steered for this generator at step \(step); the checkpoint is at step \(model.metadata["step"] ?? "?")\n".utf8))
        }
        return (policy, metadata)
    }
}
