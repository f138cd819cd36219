import AudioIO
import FileFormats
import Foundation
import Spectral

/// `melforge spectrogram`: one audio file to its features `[nMels, frames]` as .npy, the JSON
/// beside it that says how they were made (`FeatureSidecar`), and optionally a picture.
public struct FeatureExtraction {
    public var frontEnd: FrontEndConfiguration
    /// Map the dB values to [-1, 1] with the clip's own range (stored in the JSON).
    public var normalize = false
    public var nonFinite = NonFiniteSamples.reject
    /// The picture: its colour map and the dB below its peak it shows.
    public var colorMap = ColorMap.magma
    public var pictureRange: Float = 80
    public var pictureStyle = SpectrogramPicture.Style.axes

    public init(frontEnd: FrontEndConfiguration) { self.frontEnd = frontEnd }

    /// What was read and made.
    public struct Result {
        public var clip: AudioClip
        public var bins: Int
        public var frames: Int
    }

    /// Writes `output` (.npy) with its JSON, and the picture to `picture` when given.
    public func run(_ input: String, output: String, picture: String?) throws -> Result {
        let clip = try AudioFile.read(input, sampleRate: frontEnd.sampleRate, nonFinite: nonFinite)
        var features = try MelFrontEnd(frontEnd).features(clip.samples)
        var normalization: LogMelNormalization?
        var pictureValues = features.values
        if normalize {
            let fitted = try LogMelNormalization.fitted(to: features.values)
            fitted.normalize(&features.values)
            normalization = fitted
        }
        if frontEnd.scale == .power {
            try DecibelScaling(reference: .value(1)).toDecibels(&pictureValues)
        }
        try createParentFolder(of: output)
        try NPY.write(NumPyArray(shape: [features.bins, features.frames], values: features.values), to: output)
        try FeatureSidecar(frontEnd: frontEnd, normalization: normalization, samples: clip.samples.count,
                           source: .init(clip: clip, path: input))
            .write(to: FeatureSidecar.path(forArray: output))
        if let picture {
            let peak = pictureValues.filter(\.isFinite).max() ?? 0
            var figure = SpectrogramPicture(frontEnd: frontEnd,
                                            title: SpectrogramPicture.title((input as NSString).lastPathComponent, frontEnd: frontEnd))
            (figure.colorMap, figure.style) = (colorMap, pictureStyle)
            let image = try figure.render(pictureValues, bins: features.bins, frames: features.frames,
                                          range: (peak - pictureRange)...peak)
            try createParentFolder(of: picture)
            try PNG.write(image, to: picture)
        }
        return Result(clip: clip, bins: features.bins, frames: features.frames)
    }
}
