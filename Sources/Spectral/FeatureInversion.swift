/// The front end run backwards as far as it can go without a phase: features (dB, maybe
/// normalised to [-1, 1]) -> the mel spectrogram in the filter bank's units -> the linear
/// magnitude |STFT| `[bins, frames]` (non-negative least squares, `MelInversion`). Every
/// vocoder that starts from a magnitude, and every measure of what features would sound like
/// (level, centroid), goes through here.
public struct FeatureInversion: Sendable {
    public let configuration: FrontEndConfiguration
    public let frontEnd: MelFrontEnd
    public var inversion: MelInversion

    public init(configuration: FrontEndConfiguration, nnlsIterations: Int = 50) throws {
        self.configuration = configuration
        frontEnd = try MelFrontEnd(configuration)
        inversion = try MelInversion(filterbank: frontEnd.filterbank, iterations: nnlsIterations)
    }

    /// The mel spectrogram in the filter bank's own units (|STFT|^power through the
    /// filters) from features as `MelFrontEnd.features` made them, normalised or not.
    public func melSpectrogram(fromFeatures features: Spectrogram,
                               normalization: LogMelNormalization? = nil) throws -> Spectrogram {
        guard features.bins == configuration.nMels else {
            throw SpectralError.invalidParameter(name: "mel bands", value: "\(features.bins)",
                                                 accepted: "nMels = \(configuration.nMels)")
        }
        var values = features.values
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw SpectralError.invalidParameter(name: "features", value: "\(values[bad]) at band \(bad / features.frames), frame \(bad % features.frames)",
                                                 accepted: "finite values")
        }
        if let normalization {
            if let bad = values.firstIndex(where: { abs($0) > 1.0001 }) {
                throw SpectralError.invalidParameter(name: "normalised features", value: "\(values[bad])",
                                                     accepted: "values in [-1, 1]")
            }
            normalization.denormalize(&values)
        }
        if configuration.scale == .db {
            try frontEnd.decibels.toPower(&values)
            // dB of a magnitude mel (power 1) is 10 log10(M^2): back to M.
            if configuration.power == 1 { for i in values.indices { values[i] = values[i].squareRoot() } }
        } else if let bad = values.firstIndex(where: { $0 < 0 }) {
            throw SpectralError.invalidParameter(name: "mel", value: "\(values[bad])",
                                                 accepted: "values >= 0 for --scale power (dB features need --scale db)")
        }
        return Spectrogram(bins: features.bins, frames: features.frames, values: values)
    }

    /// The linear magnitude |STFT| `[bins, frames]` behind a mel spectrogram in the filter
    /// bank's units.
    public func magnitude(fromMel mel: Spectrogram) throws -> Spectrogram {
        var linear = try inversion.invert(mel)
        if configuration.power == 2 {
            for i in linear.values.indices { linear.values[i] = linear.values[i].squareRoot() }
        }
        return linear
    }

    /// Features all the way to a linear magnitude.
    public func magnitude(fromFeatures features: Spectrogram, normalization: LogMelNormalization? = nil) throws -> Spectrogram {
        try magnitude(fromMel: melSpectrogram(fromFeatures: features, normalization: normalization))
    }
}
