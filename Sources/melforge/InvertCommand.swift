import ArgumentParser
import AudioIO
import FileFormats
import Foundation
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

    func validate() throws {
        try requireWAVOutput(output)
    }

    func run() throws {
        let array = try NPY.read(input, float32Only: true)
        guard array.shape.count == 2, array.shape.allSatisfy({ $0 > 0 }) else {
            throw NPYError.malformed(path: input, reason: "shape \(array.shape); expected 2-D [bands, frames]")
        }
        let sidecarPath = FeatureSidecar.path(forArray: input)
        let sidecar = FileManager.default.fileExists(atPath: sidecarPath) ? try FeatureSidecar.read(sidecarPath) : nil
        let configuration = sidecar?.frontEnd ?? frontEnd.configuration
        let vocoder = try self.vocoder.vocoder(for: configuration)
        let features = Spectrogram(bins: array.shape[0], frames: array.shape[1], values: array.values)

        let magnitude: Spectrogram
        if linear {
            guard features.bins == vocoder.frontEnd.stft.bins else {
                throw InputError(file: input, problem: "has \(features.bins) rows; a linear magnitude for n-fft \(configuration.nFFT) has \(vocoder.frontEnd.stft.bins)")
            }
            if let bad = features.values.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
                throw InputError(file: input, problem: "holds \(features.values[bad]) at bin \(bad / features.frames), frame \(bad % features.frames); a magnitude is finite and >= 0")
            }
            magnitude = features
        } else {
            guard features.bins == configuration.nMels else {
                let origin = sidecar == nil ? "--n-mels is \(configuration.nMels)" : "\(sidecarPath) says n-mels \(configuration.nMels)"
                throw InputError(file: input, problem: "has \(features.bins) mel bands, but \(origin)")
            }
            do {
                magnitude = try vocoder.magnitude(fromMel: vocoder.melSpectrogram(
                    fromFeatures: features, normalization: sidecar?.normalization))
            } catch let error as SpectralError {
                throw InputError(file: input, problem: error.description)
            }
        }
        let result = try vocoder.griffinLim.reconstruct(magnitude, length: sidecar?.samples)
        try createParentFolder(of: output)
        let report = try AudioFile.write(result.samples, sampleRate: configuration.sampleRate, to: output)
        let sc = try vocoder.spectralConvergence(of: result.samples, against: magnitude)
        print("\(output): \(String(format: "%.2f", Double(result.samples.count) / Double(configuration.sampleRate))) s at "
              + "\(configuration.sampleRate) Hz, \(result.iterations) Griffin-Lim iterations, "
              + "SC \(String(format: "%.4f", sc))" + clippingNote(report)
              + (sidecar == nil ? "" : " (front end from \(sidecarPath))"))
    }
}

/// A problem with how a command was asked to run, found while running (after parsing):
/// named like a validation error, without the usage text.
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A problem with the content of an input file.
struct InputError: Error, CustomStringConvertible {
    var file: String
    var problem: String
    var description: String { "'\(file)' \(problem)" }
}

func requireWAVOutput(_ output: String) throws {
    guard output.lowercased().hasSuffix(".wav") else {
        throw ValidationError("--output '\(output)' must end in .wav")
    }
}

func clippingNote(_ report: WriteReport) -> String {
    report.clippedSamples > 0 ? " (\(report.clippedSamples) samples beyond full scale were clipped)" : ""
}
