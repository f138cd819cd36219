import ArgumentParser
import AudioIO
import FileFormats
import Foundation
import Pipeline

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

    @Option(help: "axes: time and frequency axes, a colour bar in dB and a title; bare: the heat map alone (a model's input picture).")
    var pngStyle = SpectrogramPicture.Style.axes

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
        var extraction = FeatureExtraction(frontEnd: frontEnd.configuration)
        (extraction.normalize, extraction.nonFinite) = (normalize, nonFinite)
        (extraction.colorMap, extraction.pictureRange, extraction.pictureStyle) = (colormap, pictureRange, pngStyle)
        let result = try extraction.run(input, output: output, picture: png)
        let clip = result.clip
        let note = clip.replacedSamples > 0 ? ", \(clip.replacedSamples) NaN/Inf samples replaced with 0" : ""
        print("\(output): \(result.bins) mel bands x \(result.frames) frames from "
              + "\(String(format: "%.2f", clip.duration)) s of '\(input)' "
              + "(\(clip.source.sampleRate) Hz, \(clip.source.channels) ch, \(clip.source.encoding))\(note)")
    }
}
