import ArgumentParser
import AudioIO
import FileFormats
import Foundation
import Pipeline
import Spectral

struct SpectrogramCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spectrogram",
        abstract: "Turn an audio file into a mel spectrogram (.npy, optionally a PNG picture).",
        discussion: """
            OUT.npy is a NumPy format 1.0 file, little-endian float32, shape [n-mels, frames] \
            (librosa's orientation). With the defaults it equals \
            librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, \
            hop_length=256, n_mels=80), ref=1.0, amin=1e-10, top_db=None) \
            for y = librosa.load(INPUT, sr=16000)[0].

            Beside it, OUT.json records every front-end parameter, the normalisation (if any) \
            and the source file's format, so that later steps can check and undo the scaling.
            """)

    @Argument(help: "An audio file in any format libsndfile reads (WAV, FLAC, OGG, AIFF, ...).")
    var input: String

    @Option(name: .shortAndLong, help: "Output .npy file.")
    var output: String

    @Option(help: "Also write a picture of the spectrogram (low frequencies at the bottom, dB scale).")
    var png: String?

    @Option(help: "Colour map of the picture: \(ColorMap.allCases.map(\.rawValue).joined(separator: ", ")).")
    var colormap = ColorMap.magma

    @Option(help: "Dynamic range of the picture in dB below its peak.")
    var pictureRange: Float = 80

    @Flag(help: "Map the dB values to [-1, 1] with the file's own min/max (stored in OUT.json).")
    var normalize = false

    @Option(help: "NaN/Inf samples: reject (an error) or zero (replaced with silence, counted).")
    var nonFinite = NonFiniteSamples.reject

    @OptionGroup(title: "Front end")
    var frontEnd: FrontEndOptions

    func validate() throws {
        guard output.hasSuffix(".npy") else {
            throw ValidationError("--output '\(output)' must end in .npy")
        }
        if normalize && frontEnd.scale != .db {
            throw ValidationError("--normalize maps dB values; it needs --scale db (got --scale \(frontEnd.scale.rawValue))")
        }
        guard pictureRange > 0 else {
            throw ValidationError("--picture-range \(pictureRange) is not accepted; expected a positive number of dB")
        }
    }

    func run() throws {
        let configuration = frontEnd.configuration
        let frontEnd = try MelFrontEnd(configuration)
        let clip = try AudioFile.read(input, sampleRate: configuration.sampleRate, nonFinite: nonFinite)
        var features = try frontEnd.features(clip.samples)

        var normalization: LogMelNormalization?
        var pictureValues = features.values
        if normalize {
            let fitted = try LogMelNormalization.fitted(to: features.values)
            fitted.normalize(&features.values)
            normalization = fitted
        }
        if configuration.scale == .power {
            try DecibelScaling(reference: .value(1)).toDecibels(&pictureValues)
        }

        try createParentFolder(of: output)
        try NPY.write(NumPyArray(shape: [features.bins, features.frames], values: features.values), to: output)
        let sidecar = FeatureSidecar(frontEnd: configuration, normalization: normalization,
                                     samples: clip.samples.count, source: .init(clip: clip, path: input))
        try sidecar.write(to: FeatureSidecar.path(forArray: output))

        if let png {
            let peak = pictureValues.filter(\.isFinite).max() ?? 0
            let cell = Heatmap.cellSize(rows: features.bins, columns: features.frames)
            let picture = Heatmap.render(pictureValues, rows: features.bins, columns: features.frames,
                                         range: (peak - pictureRange)...peak, colorMap: colormap, cellSize: cell)
            try createParentFolder(of: png)
            try PNG.write(picture, to: png)
        }

        var note = ""
        if clip.replacedSamples > 0 { note += ", \(clip.replacedSamples) NaN/Inf samples replaced with 0" }
        print("\(output): \(features.bins) mel bands x \(features.frames) frames from "
              + "\(String(format: "%.2f", clip.duration)) s of '\(input)' "
              + "(\(clip.source.sampleRate) Hz, \(clip.source.channels) ch, \(clip.source.encoding))\(note)")
    }
}
