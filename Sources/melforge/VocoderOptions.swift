import ArgumentParser
import Spectral

/// The vocoder's flags, shared by `invert` and `resynth`.
struct VocoderOptions: ParsableArguments {
    @Option(name: .customLong("n-iter"), help: "Griffin-Lim iterations.")
    var iterations = 32

    @Option(help: "Griffin-Lim momentum (Perraudin et al. 2013); 0 is plain Griffin-Lim.")
    var momentum: Float = 0.99

    @Option(help: "Seed of the random initial phase.")
    var seed: UInt64 = 0

    @Flag(help: "Start from zero phase instead of a random one.")
    var zeroPhase = false

    @Option(help: "Stop Griffin-Lim early once an iteration improves the spectral convergence by less than this fraction.")
    var stopTolerance: Float?

    @Option(help: "Projected-gradient iterations of the NNLS mel -> linear inversion (0: clipped pseudo-inverse only).")
    var nnlsIterations = 50

    func validate() throws {
        guard iterations >= 0 else { throw ValidationError("--n-iter \(iterations) is not accepted; expected 0 or more") }
        guard momentum >= 0 && momentum.isFinite else {
            throw ValidationError("--momentum \(momentum) is not accepted; expected 0 or more (0.99 is usual)")
        }
        if let stopTolerance, !(stopTolerance > 0 && stopTolerance < 1) {
            throw ValidationError("--stop-tolerance \(stopTolerance) is not accepted; expected a fraction between 0 and 1")
        }
        guard nnlsIterations >= 0 else {
            throw ValidationError("--nnls-iterations \(nnlsIterations) is not accepted; expected 0 or more")
        }
    }

    func vocoder(for configuration: FrontEndConfiguration) throws -> Vocoder {
        try Vocoder(configuration: configuration, griffinLimIterations: iterations, momentum: momentum,
                    initialPhase: zeroPhase ? .zero : .random(seed: seed), stopTolerance: stopTolerance,
                    nnlsIterations: nnlsIterations)
    }
}
