import Foundation
import NeuralVocoder
import Spectral

/// The vocoder a command's flags name (`--vocoder`, `--n-iter`, `--init`, ...): mel inversion
/// then Griffin-Lim or PGHI, or a learned vocoder's checkpoint, built for features of a given
/// front end. Every command that makes sound takes its vocoder from here.
public struct VocoderSelection: Sendable {
    public enum Kind: Equatable, Sendable {
        /// NNLS mel inversion, then fast Griffin-Lim from `initialPhase`.
        case griffinlim
        /// NNLS mel inversion, then Phase Gradient Heap Integration alone (no iterations).
        case pghi
        /// A checkpoint (file or run folder) of 'melforge train vocoder'.
        case learned(path: String)

        /// From `--vocoder`'s text: griffinlim, pghi, or a path (nil for "").
        public init?(text: String) {
            switch text {
            case "griffinlim": self = .griffinlim
            case "pghi": self = .pghi
            case "": return nil
            default: self = .learned(path: text)
            }
        }

        /// As `--vocoder` takes it.
        public var text: String {
            switch self {
            case .griffinlim: "griffinlim"
            case .pghi: "pghi"
            case .learned(let path): path
            }
        }
    }

    /// Where Griffin-Lim's phase starts.
    public enum PhaseStart: String, CaseIterable, Sendable {
        case pghi, random, zero
    }

    public var kind = Kind.griffinlim
    /// nil: 32 for Griffin-Lim.
    public var iterations: Int?
    public var momentum: Float = 0.99
    public var initialPhase = PhaseStart.pghi
    public var seed: UInt64 = 0
    public var stopTolerance: Float?
    public var nnlsIterations = 50

    public init() {}

    /// The Griffin-Lim iterations this vocoder runs.
    public var griffinLimIterations: Int { kind == .griffinlim ? iterations ?? 32 : 0 }

    /// The vocoder for features of `configuration`. A learned vocoder trained on features made
    /// another way is refused, naming the settings that differ and the flags that would match.
    public func vocoder(for configuration: FrontEndConfiguration) throws -> any Vocoder {
        guard case .learned(let path) = kind else { return try griffinLim(for: configuration) }
        let learned = try LearnedVocoder(checkpoint: path)
        let differences = AudioImaging.differences(learned.configuration, configuration)
        guard differences.isEmpty else {
            throw UsageError("--vocoder '\(path)' was trained on features made another way (these vs the vocoder's: \(differences.joined(separator: ", "))); make the features with \(AudioImaging.flags(for: learned.configuration, differingFrom: configuration)), or train a vocoder on features like these")
        }
        return learned
    }

    /// The mel bands of the learned vocoder named (nil for the others).
    public var learnedBands: Int? {
        get throws {
            guard case .learned(let path) = kind else { return nil }
            return try LearnedVocoder(checkpoint: path).configuration.nMels
        }
    }

    /// The phase-retrieval vocoder named (Griffin-Lim or PGHI), for what only it can do (a
    /// linear magnitude without mel features: `purpose` names the flag that asked).
    public func griffinLim(for configuration: FrontEndConfiguration, purpose: String? = nil) throws -> GriffinLimVocoder {
        if case .learned = kind, let purpose {
            throw UsageError("\(purpose) needs a phase-retrieval vocoder (--vocoder griffinlim or pghi); a learned vocoder reads mel features")
        }
        let start: GriffinLim.InitialPhase = switch (kind, initialPhase) {
        case (.pghi, _), (_, .pghi): .pghi(seed: seed)
        case (_, .random): .random(seed: seed)
        case (_, .zero): .zero
        }
        return try GriffinLimVocoder(configuration: configuration, griffinLimIterations: griffinLimIterations, momentum: momentum,
                                     initialPhase: start, stopTolerance: stopTolerance, nnlsIterations: nnlsIterations)
    }
}
