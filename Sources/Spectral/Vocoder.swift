/// Features back to sound: undo the normalisation and the dB scaling exactly (from the
/// parameters stored with the features), invert the mel filter bank (`MelInversion`),
/// and recover a phase (`GriffinLim`). The same front-end configuration that made the
/// features drives every step.
public struct Vocoder: Sendable {
    public let configuration: FrontEndConfiguration
    public let frontEnd: MelFrontEnd
    public var griffinLim: GriffinLim
    public var inversion: MelInversion

    public init(configuration: FrontEndConfiguration, griffinLimIterations: Int = 32, momentum: Float = 0.99,
                initialPhase: GriffinLim.InitialPhase = .random(seed: 0), stopTolerance: Float? = nil,
                nnlsIterations: Int = 50) throws {
        self.configuration = configuration
        frontEnd = try MelFrontEnd(configuration)
        griffinLim = try GriffinLim(stft: frontEnd.stft, iterations: griffinLimIterations, momentum: momentum,
                                    initialPhase: initialPhase, stopTolerance: stopTolerance)
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

    /// Features all the way to a signal.
    public func synthesize(features: Spectrogram, normalization: LogMelNormalization? = nil,
                           length: Int? = nil) throws -> (magnitude: Spectrogram, result: GriffinLim.Result) {
        let magnitude = try magnitude(fromMel: melSpectrogram(fromFeatures: features, normalization: normalization))
        return (magnitude, try griffinLim.reconstruct(magnitude, length: length))
    }

    /// ||S - |STFT(x)| ||_F / ||S||_F with this configuration's STFT.
    public func spectralConvergence(of samples: [Float], against magnitude: Spectrogram) throws -> Float {
        let rebuilt = try frontEnd.stft.magnitude(samples)
        let frames = min(rebuilt.frames, magnitude.frames)
        var error = 0.0, norm = 0.0
        for k in 0..<magnitude.bins {
            for t in 0..<frames {
                let target = Double(magnitude[k, t])
                error += (target - Double(rebuilt[k, t])) * (target - Double(rebuilt[k, t]))
                norm += target * target
            }
        }
        return norm > 0 ? Float((error / norm).squareRoot()) : 0
    }
}
