import ArgumentParser
import FileFormats
import Foundation
import Pipeline
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

    @Option(help: "A classifier from 'melforge classifier train': the page shows what it hears in each clip (its most probable class and how sure it is).")
    var classifier: String?

    @Flag(help: "Write into an output folder that already holds files.")
    var overwrite = false

    @OptionGroup(title: "Vocoder")
    var vocoder: VocoderOptions

    @Option(help: "Also write every clip through this vocoder (griffinlim, pghi or a learned vocoder's PATH; repeatable), as clip-NNN.NAME.wav, heard side by side on the page.")
    var compareVocoder: [VocoderSelection.Kind] = []

    func validate() throws {
        for case .learned(let path) in compareVocoder where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("--compare-vocoder '\(path)' is not accepted; expected griffinlim, pghi, or the checkpoint or run folder of 'melforge train vocoder' (no such file or folder)")
        }
        guard count >= 1 else { throw ValidationError("--count \(count) is not accepted; expected 1 or more") }
        if let truncation, !(truncation > 0) {
            throw ValidationError("--truncation \(truncation) is not accepted; expected a positive number")
        }
    }

    func run() throws {
        let path = checkpointPath(checkpoint)
        let model = try TrainedModel(checkpoint: path)
        let chosen = try model.labelIndex(label)
        let labels = model.configuration.classes.map { classes in (0..<count).map { chosen ?? $0 % classes.count } }
        let audio = try ModelAudio(model, path: path, vocoder: vocoder.vocoder)
        let judge = try classifier.map { try Judge(path: $0) }
        try judge?.requireCompatible(with: model, modelPath: path)
        let steered = try policy.map {
            try SteeringSession.policy($0, for: model, modelPath: path) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        }
        try prepareOutputFolder(output, overwrite: overwrite)

        let modelStart = Date()
        // --seed (the vocoder's option) seeds the latents as well as the initial phases.
        var random = RandomNumbers(seed: vocoder.seed)
        let latents = steered?.policy.sample(count: count, truncation: truncation, random: &random).latents
            ?? model.latents(count: count, truncation: truncation, seed: vocoder.seed)
        let images = model.images(latents: latents, labels: labels)
        let modelSeconds = Date().timeIntervalSince(modelStart)
        guard let audio else {
            let captions = labels.map { $0.map { model.configuration.classes![$0] } }
            try ImageGrid.write(images, into: output, heading: "\(count) images from \((checkpoint as NSString).lastPathComponent)",
                                captions: captions)
            print("\(output): \(count) images (image-NNN.png, grid.png) in \(String(format: "%.2f", modelSeconds)) s")
            return
        }
        let vocoderStart = Date()
        let written = try audio.write(images, names: (1...count).map { String(format: "clip-%03d", $0) }, into: output)
        let vocoderSeconds = Date().timeIntervalSince(vocoderStart)
        let others = try compareVocoder.enumerated().map { index, choice in
            var options = vocoder
            options.vocoder = choice
            let tag = switch choice {
            case .griffinlim: "griffinlim"
            case .pghi: "pghi"
            case .learned: compareVocoder.count > 1 ? "learned\(index + 1)" : "learned"
            }
            return (tag: tag, vocoder: try options.vocoder(for: audio.frontEnd))
        }
        let (alternatives, timings) = try audio.writeAlternatives(images, clips: written.map(\.name), through: others,
                                                                  into: output)
        let verdicts = try judge?.verdicts(images, of: model, modelPath: path)
        let entries = written.enumerated().map { i, clip in
            var entry = ClipPage.Entry(name: clip.name, label: labels.map { model.configuration.classes![$0[i]] },
                                       convergence: clip.convergence, judged: verdicts?[i])
            entry.alternatives = alternatives[i]
            return entry
        }
        try ClipPage(entries: entries, configuration: model.configuration, checkpoint: path,
                     runFolder: isDirectory(checkpoint) ? checkpoint : nil, policy: steered.map { (policy!, $0.metadata) },
                     vocoder: audio.vocoder.name, judge: judge.map { ($0.path, $0.heldOutAccuracy) })
            .write(to: output + "/index.html")
        let total = modelSeconds + vocoderSeconds
        print("\(output): \(count) clips (clip-NNN.wav, clip-NNN.png, index.html); "
              + String(format: "%.1f clips/s: model %.2f s, vocoder %.2f s (%@)",
                       Double(count) / total, modelSeconds, vocoderSeconds, audio.vocoder.name)
              + (timings.isEmpty ? "" : "; also through " + timings.joined(separator: ", ")))
    }
}
