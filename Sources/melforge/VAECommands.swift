import ArgumentParser
import Foundation
import Pipeline
import Tensors
import Training

/// `melforge reconstruct`: a clip through a trained VAE (encode to the posterior mean, decode,
/// vocode), to hear what the model keeps of it.
struct ReconstructCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconstruct",
        abstract: "Encode an audio clip with a trained VAE, decode it and write the result as WAV (and PNG).")

    @Option(help: "A VAE run folder or checkpoint file.")
    var checkpoint: String

    @Argument(help: "An audio file.")
    var input: String

    @Option(name: .shortAndLong, help: "Output WAV file; its spectrogram goes beside it as .png.")
    var output: String

    @Option(help: "For a conditional VAE: the clip's class.")
    var label: String?

    @OptionGroup(title: "Vocoder")
    var vocoder: VocoderOptions

    func validate() throws { try requireWAVOutput(output) }

    func run() throws {
        let path = checkpointPath(checkpoint)
        let model = try TrainedModel(checkpoint: path)
        guard model.canEncode else {
            throw UsageError("'\(checkpoint)' holds a \(model.configuration.model.rawValue.uppercased()), which has no encoder; reconstruct needs a VAE")
        }
        guard let audio = try ModelAudio(model, path: path, vocoder: vocoder.vocoder) else {
            throw UsageError("'\(checkpoint)' was trained on images, not audio")
        }
        let labels = try model.requiredLabelIndex(label, modelName: "VAE").map { [$0] }
        let image = try audio.image(ofClip: input, size: model.configuration.imageSize)
        let reconstruction = model.images(latents: model.encode(image, labels: labels)!, labels: labels)
        let folder = (output as NSString).deletingLastPathComponent.isEmpty ? "." : (output as NSString).deletingLastPathComponent
        try createParentFolder(of: output)
        let name = ((output as NSString).lastPathComponent as NSString).deletingPathExtension
        let written = try audio.write(reconstruction, names: [name], into: folder)
        print("\(output): '\(input)' through the VAE" + (written[0].convergence.map { ", SC " + String(format: "%.4f", $0) + " against the decoded magnitude" } ?? ""))
    }
}

/// `melforge interpolate`: a walk through the latent space, between two clips (VAE) or two seeds.
struct InterpolateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interpolate",
        abstract: "Decode evenly spaced points between two latents: of two clips (VAE) or of two seeds.")

    @Option(help: "A run folder or checkpoint file.")
    var checkpoint: String

    @Option(help: "First clip (VAE only).")
    var from: String?

    @Option(help: "Last clip (VAE only).")
    var to: String?

    @Option(parsing: .upToNextOption, help: "Two seeds whose latents are the ends.")
    var seeds: [UInt64] = []

    @Option(help: "Points, ends included.")
    var steps = 8

    @Option(help: "For a conditional model: the class of every point.")
    var label: String?

    @Option(name: .shortAndLong, help: "Output folder.")
    var output: String

    @Flag(help: "Write into an output folder that already holds files.")
    var overwrite = false

    @OptionGroup(title: "Vocoder")
    var vocoder: VocoderOptions

    func validate() throws {
        let clips = from != nil || to != nil
        guard clips != !seeds.isEmpty else { throw ValidationError("give --from A.wav --to B.wav, or --seeds S1 S2") }
        if clips && (from == nil || to == nil) { throw ValidationError("--from and --to go together") }
        if !clips && seeds.count != 2 { throw ValidationError("--seeds takes exactly two seeds; got \(seeds.count)") }
        guard steps >= 2 else { throw ValidationError("--steps \(steps) is not accepted; expected 2 or more") }
    }

    func run() throws {
        let path = checkpointPath(checkpoint)
        let model = try TrainedModel(checkpoint: path)
        guard let audio = try ModelAudio(model, path: path, vocoder: vocoder.vocoder) else {
            throw UsageError("'\(checkpoint)' was trained on images, not audio")
        }
        let label = try model.requiredLabelIndex(label, modelName: "model")
        let ends = try audio.interpolationEnds(of: model, clips: from.flatMap { a in to.map { (a, $0) } },
                                               seeds: seeds.count == 2 ? (seeds[0], seeds[1]) : nil, label: label,
                                               checkpoint: checkpoint)
        try prepareOutputFolder(output, overwrite: overwrite)
        let images = model.images(latents: interpolated(from: ends.0, to: ends.1, steps: steps),
                                  labels: label.map { [Int](repeating: $0, count: steps) })
        let written = try audio.write(images, names: (1...steps).map { String(format: "step-%02d", $0) }, into: output)
        try ClipPage(entries: written.map { .init(name: $0.name, label: nil, convergence: $0.convergence) },
                     configuration: model.configuration, checkpoint: path, runFolder: nil, vocoder: audio.vocoder.name)
            .write(to: output + "/index.html")
        print("\(output): \(steps) points (step-NN.wav, step-NN.png, index.html)")
    }
}
