import WorkerPool

/// Features -> sound: the last step of audio -> spectrogram -> model -> spectrogram ->
/// vocoder -> audio. A vocoder takes the features one front end made (`configuration`: the
/// bands, the hop, the scaling), normalised to [-1, 1] or not, and gives back samples at that
/// front end's rate. Griffin-Lim (`GriffinLimVocoder`) is the first; every command that
/// makes sound (synthesize, invert, resynth, convert --to wav) goes through this protocol.
public protocol Vocoder: Sendable {
    /// The front end whose features this vocoder turns into sound.
    var configuration: FrontEndConfiguration { get }
    /// How it is named in reports and pages ("griffin-lim (32 iterations)").
    var name: String { get }

    /// The sound of `features` `[nMels, frames]` (normalised with `normalization`, when
    /// given). `length`: the output's length in samples; nil gives the natural length.
    func synthesize(_ features: Spectrogram, normalization: LogMelNormalization?, length: Int?) throws -> VocodedClip

    /// Many clips at once over `threads` workers; the same clips as one by one.
    func synthesize(_ features: [Spectrogram], normalization: LogMelNormalization?, threads: Int) throws -> [VocodedClip]
}

/// What a vocoder made of one clip.
public struct VocodedClip: Sendable {
    public var samples: [Float]
    /// The linear magnitude the vocoder aimed at, when it works through one.
    public var magnitude: Spectrogram?
    /// Spectral convergence of `samples` against `magnitude`, when the vocoder measured it.
    public var convergence: Float?
    /// Iterations run, for an iterative vocoder (0 otherwise).
    public var iterations: Int

    public init(samples: [Float], magnitude: Spectrogram? = nil, convergence: Float? = nil, iterations: Int = 0) {
        self.samples = samples
        self.magnitude = magnitude
        self.convergence = convergence
        self.iterations = iterations
    }
}

extension Vocoder {
    /// One clip per task, in parallel; results in the order of `features`.
    public func synthesize(_ features: [Spectrogram], normalization: LogMelNormalization?, threads: Int) throws
        -> [VocodedClip]
    {
        try Workers.each(features.count, threads: threads) { index in
            try synthesize(features[index], normalization: normalization, length: nil)
        }
    }
}
