/// The phase-retrieval vocoder: features -> linear magnitude (`FeatureInversion`: the scaling
/// undone exactly, the mel filter bank inverted by NNLS) -> a phase by fast Griffin-Lim with
/// momentum (`GriffinLim`, Perraudin et al. 2013), starting from the phase Phase Gradient
/// Heap Integration finds (`PhaseGradient`), or from random or zero phase. With no
/// iterations it is PGHI alone. The same front-end configuration that made the features
/// drives every step.
public struct GriffinLimVocoder: Vocoder {
    public let inversion: FeatureInversion
    public var griffinLim: GriffinLim

    public var configuration: FrontEndConfiguration { inversion.configuration }
    public var frontEnd: MelFrontEnd { inversion.frontEnd }
    public var name: String {
        let iterations = griffinLim.iterations
        switch griffinLim.initialPhase {
        case .pghi where iterations == 0: return "pghi (phase gradient heap integration)"
        case .pghi: return "griffin-lim (\(iterations) iterations from the pghi phase)"
        case .random: return "griffin-lim (\(iterations) iterations from random phase)"
        case .zero: return "griffin-lim (\(iterations) iterations from zero phase)"
        }
    }

    public init(configuration: FrontEndConfiguration, griffinLimIterations: Int = 32, momentum: Float = 0.99,
                initialPhase: GriffinLim.InitialPhase = .random(seed: 0), stopTolerance: Float? = nil,
                nnlsIterations: Int = 50) throws {
        inversion = try FeatureInversion(configuration: configuration, nnlsIterations: nnlsIterations)
        griffinLim = try GriffinLim(stft: inversion.frontEnd.stft, iterations: griffinLimIterations, momentum: momentum,
                                    initialPhase: initialPhase, stopTolerance: stopTolerance)
    }

    public func synthesize(_ features: Spectrogram, normalization: LogMelNormalization?, length: Int?) throws -> VocodedClip {
        try reconstruct(inversion.magnitude(fromFeatures: features, normalization: normalization), length: length)
    }

    /// The batch through `GriffinLim`'s own batch (each clip its own workspace).
    public func synthesize(_ features: [Spectrogram], normalization: LogMelNormalization?, threads: Int) throws
        -> [VocodedClip]
    {
        let magnitudes = try features.map { try inversion.magnitude(fromFeatures: $0, normalization: normalization) }
        return zip(magnitudes, try griffinLim.reconstruct(magnitudes, threads: threads)).map(Self.clip)
    }

    /// A signal for a linear magnitude |STFT| `[bins, frames]` itself (no mel inversion).
    public func reconstruct(_ magnitude: Spectrogram, length: Int? = nil) throws -> VocodedClip {
        Self.clip(magnitude, try griffinLim.reconstruct(magnitude, length: length))
    }

    private static func clip(_ magnitude: Spectrogram, _ result: GriffinLim.Result) -> VocodedClip {
        VocodedClip(samples: result.samples, magnitude: magnitude, convergence: result.finalConvergence,
                    iterations: result.iterations)
    }
}
