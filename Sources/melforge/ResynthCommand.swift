import ArgumentParser
import AudioIO
import Pipeline
import Spectral

extension ResynthPath: ExpressibleByArgument {}

enum ResynthPath: String, CaseIterable {
    case mel, linear
}

struct ResynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resynth",
        abstract: "Audio -> spectrogram -> vocoder -> audio: what the vocoder costs.",
        discussion: """
            --via mel (the default) goes through the log-mel features a model would produce and \
            back; --via linear gives Griffin-Lim the exact |STFT|. Prints the spectral convergence \
            SC = ||S - |STFT(x)| ||_F / ||S||_F against the input's own magnitude S.
            """)

    @Argument(help: "An audio file in any format libsndfile reads.")
    var input: String

    @Option(name: .shortAndLong, help: "Output WAV file (16-bit PCM at --sample-rate).")
    var output: String

    @Option(help: "mel (through the log-mel features) or linear (from |STFT| directly).")
    var via = ResynthPath.mel

    @OptionGroup(title: "Vocoder")
    var vocoder: VocoderOptions

    @OptionGroup(title: "Front end")
    var frontEnd: FrontEndOptions

    func validate() throws { try requireWAVOutput(output) }

    func run() throws {
        // A learned vocoder's own bands when --n-mels is not given: it reads no others.
        let configuration = frontEnd.configuration(defaultBands: try vocoder.learnedBands ?? 80)
        let frontEnd = try MelFrontEnd(configuration)
        let clip = try AudioFile.read(input, sampleRate: configuration.sampleRate)
        let original = try frontEnd.stft.magnitude(clip.samples)
        let vocoder: any Vocoder
        let result: VocodedClip
        switch via {
        case .linear:
            let griffinLim = try self.vocoder.griffinLim(for: configuration, purpose: "--via linear")
            (vocoder, result) = (griffinLim, try griffinLim.reconstruct(original, length: clip.samples.count))
        case .mel:
            vocoder = try self.vocoder.vocoder(for: configuration)
            result = try vocoder.synthesize(try frontEnd.features(clip.samples), normalization: nil, length: clip.samples.count)
        }
        try createParentFolder(of: output)
        let report = try AudioFile.write(result.samples, sampleRate: configuration.sampleRate, to: output)
        let sc = try spectralConvergence(of: result.samples, against: original, stft: frontEnd.stft)
        print("\(output): \(String(format: "%.2f", clip.duration)) s via \(via.rawValue), "
              + "\(vocoder.name), SC \(String(format: "%.4f", sc)) against '\(input)'"
              + clippingNote(report))
    }
}
