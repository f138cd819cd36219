import ArgumentParser
import AudioIO
import FileFormats
import Foundation
import Pipeline
import Spectral

struct InvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invert",
        abstract: "Turn a mel spectrogram (.npy from 'melforge spectrogram') back into a WAV file.",
        discussion: """
            The features' own parameters are read from the JSON beside MEL.npy when it exists \
            (as 'melforge spectrogram' writes it); otherwise the front-end flags must be the ones \
            the features were made with. The dB scaling and any normalisation are undone exactly, \
            the mel filter bank is inverted by non-negative least squares, and Griffin-Lim with \
            momentum recovers a phase. With --linear, MEL.npy is instead a linear magnitude \
            |STFT| of shape [n-fft/2 + 1, frames].

            Prints the spectral convergence SC = ||S - |STFT(x)| ||_F / ||S||_F of the output \
            against the target magnitude S.
            """)

    @Argument(help: "A float32 .npy of shape [n-mels, frames] (or [n-fft/2 + 1, frames] with --linear).")
    var input: String

    @Option(name: .shortAndLong, help: "Output WAV file (16-bit PCM at the front end's sample rate).")
    var output: String

    @Flag(help: "The input is a linear magnitude |STFT|, not mel features.")
    var linear = false

    @OptionGroup(title: "Vocoder")
    var vocoder: VocoderOptions

    @OptionGroup(title: "Front end (when MEL.npy has no JSON beside it)")
    var frontEnd: FrontEndOptions

    func validate() throws { try requireWAVOutput(output) }

    func run() throws {
        // Without a sidecar, a learned vocoder's own bands unless --n-mels is given.
        let features = try FeatureFile(input, fallback: frontEnd.configuration(defaultBands: try vocoder.learnedBands ?? 80))
        let vocoder: any Vocoder
        let clip: VocodedClip
        if linear {
            let griffinLim = try self.vocoder.griffinLim(for: features.configuration, purpose: "--linear")
            (vocoder, clip) = (griffinLim, try griffinLim.reconstruct(try features.linearMagnitude(bins: griffinLim.frontEnd.stft.bins),
                                                                      length: features.sidecar?.samples))
        } else {
            vocoder = try self.vocoder.vocoder(for: features.configuration)
            clip = try features.vocoded(by: vocoder)
        }
        let stft = try MelFrontEnd(features.configuration).stft
        try createParentFolder(of: output)
        let rate = features.configuration.sampleRate
        let report = try AudioFile.write(clip.samples, sampleRate: rate, to: output)
        let sc = try spectralConvergence(of: clip.samples, against: clip.magnitude!, stft: stft)
        print("\(output): \(String(format: "%.2f", Double(clip.samples.count) / Double(rate))) s at \(rate) Hz, "
              + "\(vocoder.name), SC \(String(format: "%.4f", sc))" + clippingNote(report)
              + (features.sidecar == nil ? "" : " (front end from \(FeatureSidecar.path(forArray: input)))"))
    }
}
