import WorkerPool
import CSpectralKernels
import Foundation

/// Phase reconstruction from a magnitude spectrogram: fast Griffin-Lim.
///
/// Griffin & Lim (1984) alternate between the magnitude constraint and consistency (a
/// signal's STFT); Perraudin, Balazs & Sondergaard (2013) add momentum, which converges
/// in far fewer iterations. As `librosa.griffinlim`:
///
///     angles = initial phase factors;  rebuilt = 0
///     repeat n times:
///         previous = rebuilt
///         rebuilt  = STFT(iSTFT(S * angles))
///         angles   = rebuilt - momentum / (1 + momentum) * previous
///         angles  /= |angles|
///     x = iSTFT(S * angles)
///
/// The spectral convergence ||S - |rebuilt|||_F / ||S||_F of each iteration is returned
/// with the signal; with momentum 0 it never rises (Griffin & Lim's monotonicity).
public struct GriffinLim: Sendable {
    /// Where the phase starts.
    public enum InitialPhase: Sendable, Equatable {
        /// Uniform random phases from a seeded generator (librosa's `init="random"`).
        case random(seed: UInt64)
        /// All phases zero (librosa's `init=None`): deterministic, used by reference tests.
        case zero
        /// The phase Phase Gradient Heap Integration finds in the magnitude (`PhaseGradient`);
        /// `seed` draws the phases of coefficients too small to integrate.
        case pghi(seed: UInt64)
    }

    /// The STFT whose inverse and forward transforms the iterations alternate; its
    /// `bins` must match the magnitudes'.
    public let stft: STFT
    /// Iterations (librosa's and torchaudio's default: 32).
    public var iterations: Int
    /// The momentum of Perraudin et al.; 0 is plain Griffin-Lim, 0.99 librosa's default.
    public var momentum: Float
    public var initialPhase: InitialPhase
    /// Stop early once an iteration improves the spectral convergence by less than
    /// this fraction of it (e.g. 1e-3); `nil` always runs every iteration.
    public var stopTolerance: Float?
    /// Measure the spectral convergence of every iteration (`Result.convergence`); it
    /// costs a square root per bin and iteration, so it is off unless asked for or
    /// needed by `stopTolerance`.
    public var recordsConvergence: Bool

    public init(stft: STFT, iterations: Int = 32, momentum: Float = 0.99,
                initialPhase: InitialPhase = .random(seed: 0), stopTolerance: Float? = nil,
                recordsConvergence: Bool = false) throws {
        guard iterations >= 0 else {
            throw SpectralError.invalidParameter(name: "iterations", value: "\(iterations)", accepted: "0 or more")
        }
        guard momentum >= 0 && momentum.isFinite else {
            throw SpectralError.invalidParameter(name: "momentum", value: "\(momentum)", accepted: "0 or more (0.99 is usual)")
        }
        if let stopTolerance, !(stopTolerance > 0 && stopTolerance < 1) {
            throw SpectralError.invalidParameter(name: "stopTolerance", value: "\(stopTolerance)", accepted: "between 0 and 1")
        }
        self.stft = stft
        self.iterations = iterations
        self.momentum = momentum
        self.initialPhase = initialPhase
        self.stopTolerance = stopTolerance
        self.recordsConvergence = recordsConvergence
    }

    /// What `reconstruct` found.
    public struct Result: Sendable {
        public var samples: [Float]
        /// Spectral convergence after each iteration (of the signal that iteration rebuilt),
        /// when recorded (`recordsConvergence` or `stopTolerance`); else empty.
        public var convergence: [Float]
        /// Iterations run (fewer than asked when `stopTolerance` stopped them).
        public var iterations: Int
        /// Spectral convergence of `samples` itself.
        public var finalConvergence: Float
    }

    /// A signal whose STFT magnitude approximates `magnitude` (`[bins, frames]`).
    /// - Parameter length: the output's length; `nil` gives the iSTFT's natural length.
    public func reconstruct(_ magnitude: Spectrogram, length: Int? = nil) throws -> Result {
        try validate(magnitude, length: length)
        var workspace = Workspace(stft: stft, magnitude: magnitude, length: length)
        return workspace.run(self)
    }

    /// Many magnitudes at once, spread over `threads` workers (one clip per task).
    public func reconstruct(_ magnitudes: [Spectrogram], lengths: [Int?]? = nil, threads: Int = Workers.count) throws -> [Result] {
        if let lengths, lengths.count != magnitudes.count {
            throw SpectralError.invalidParameter(name: "lengths", value: "\(lengths.count) lengths",
                                                 accepted: "one per magnitude (\(magnitudes.count))")
        }
        for (i, magnitude) in magnitudes.enumerated() { try validate(magnitude, length: lengths?[i] ?? nil) }
        return try Workers.each(magnitudes.count, threads: threads) { index in
            var workspace = Workspace(stft: stft, magnitude: magnitudes[index], length: lengths?[index] ?? nil)
            return workspace.run(self)
        }
    }

    private func validate(_ magnitude: Spectrogram, length: Int?) throws {
        if let length, length < 1 {
            throw SpectralError.invalidParameter(name: "length", value: "\(length)", accepted: "at least 1 sample")
        }
        guard magnitude.bins == stft.bins else {
            throw SpectralError.invalidParameter(name: "magnitude bins", value: "\(magnitude.bins)",
                                                 accepted: "nFFT / 2 + 1 = \(stft.bins)")
        }
        guard magnitude.frames >= 1 else {
            throw SpectralError.invalidParameter(name: "magnitude frames", value: "0", accepted: "at least 1")
        }
        if let bad = magnitude.values.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
            throw SpectralError.invalidParameter(
                name: "magnitude", value: "\(magnitude.values[bad]) at bin \(bad / magnitude.frames), frame \(bad % magnitude.frames)",
                accepted: "finite values >= 0")
        }
    }
}

/// The buffers of one reconstruction, frame-major (`[frames][bins]`, complex interleaved)
/// so that every step walks memory in order.
private struct Workspace {
    let stft: STFT
    let bins: Int
    let frames: Int
    let length: Int
    /// |S| frame-major.
    var magnitude: [Float]
    var angles: [Float]
    /// The previous iteration's STFT, for the momentum term.
    var previous: [Float]
    /// The overlap-added signal before trimming, and 1 / (sum of squared windows) where
    /// that sum is not negligible (librosa's `window_sumsquare`), else 0.
    var overlap: [Float]
    var inverseWindowSum: [Float]
    /// The current signal with the STFT's padding around it (`pad` samples each side when
    /// `center`), so that analysis frames read it in place.
    var padded: [Float]
    let pad: Int
    let buffers: FFTBuffers
    let norm: Double

    init(stft: STFT, magnitude spectrogram: Spectrogram, length: Int?) {
        self.stft = stft
        bins = spectrogram.bins
        frames = spectrogram.frames
        let fullLength = stft.nFFT + stft.hopLength * (frames - 1)
        self.length = length ?? (stft.center ? fullLength - 2 * (stft.nFFT / 2) : fullLength)
        magnitude = [Float](repeating: 0, count: bins * frames)
        for k in 0..<bins {
            for t in 0..<frames { magnitude[t * bins + k] = spectrogram.values[k * frames + t] }
        }
        norm = magnitude.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        angles = [Float](repeating: 0, count: 2 * bins * frames)
        previous = angles
        overlap = [Float](repeating: 0, count: fullLength)
        var windowSum = [Float](repeating: 0, count: fullLength)
        for t in 0..<frames {
            for n in 0..<stft.nFFT { windowSum[t * stft.hopLength + n] += stft.windowValues[n] * stft.windowValues[n] }
        }
        inverseWindowSum = windowSum.map { $0 > Float.leastNormalMagnitude ? 1 / $0 : 0 }
        pad = stft.center ? stft.nFFT / 2 : 0
        padded = [Float](repeating: 0, count: self.length + 2 * pad)
        buffers = FFTBuffers(size: stft.nFFT)
    }

    mutating func run(_ options: GriffinLim) -> GriffinLim.Result {
        initializeAngles(options.initialPhase)
        let alpha = options.momentum / (1 + options.momentum)
        let measure = options.recordsConvergence || options.stopTolerance != nil
        var convergence: [Float] = []
        var iterations = 0
        for _ in 0..<options.iterations {
            inverse()
            let sc = forward(alpha: alpha, measure: measure)
            iterations += 1
            guard measure else { continue }
            convergence.append(sc)
            if let tolerance = options.stopTolerance, convergence.count >= 2 {
                let before = convergence[convergence.count - 2]
                if before - sc < tolerance * before { break }
            }
        }
        inverse()
        let finalConvergence = forward(alpha: 0, updateAngles: false)  // measures the output itself
        return GriffinLim.Result(samples: Array(padded[pad..<pad + length]), convergence: convergence,
                                 iterations: iterations, finalConvergence: finalConvergence)
    }

    private mutating func initializeAngles(_ phase: GriffinLim.InitialPhase) {
        switch phase {
        case .zero:
            for i in 0..<bins * frames { (angles[2 * i], angles[2 * i + 1]) = (1, 0) }
        case .pghi(let seed):
            var spectrogram = Spectrogram(bins: bins, frames: frames)
            for t in 0..<frames {
                for k in 0..<bins { spectrogram.values[k * frames + t] = magnitude[t * bins + k] }
            }
            let phase = PhaseGradient(stft: stft).phase(spectrogram, seed: seed)
            for t in 0..<frames {
                for k in 0..<bins {
                    let angle = phase[k * frames + t]
                    (angles[2 * (t * bins + k)], angles[2 * (t * bins + k) + 1]) = (cos(angle), sin(angle))
                }
            }
        case .random(let seed):
            // Phases uniform on 4096 points of the circle, five per 64-bit draw: a random start
            // needs no finer angle, and a cos/sin per bin was 7% of a 32-iteration run.
            var generator = SplitMix64(seed: seed)
            let table = unitCircle
            var bits: UInt64 = 0
            for i in 0..<bins * frames {
                if i % 5 == 0 { bits = generator.next() }
                let (c, s) = table[Int(bits & 0xFFF)]
                bits >>= 12
                (angles[2 * i], angles[2 * i + 1]) = (c, s)
            }
        }
    }

    /// signal = iSTFT(S * angles): weighted overlap-add, trimmed as `STFT.inverse`.
    private mutating func inverse() {
        let nFFT = stft.nFFT, hop = stft.hopLength
        let scale = 1 / Float(nFFT)  // FFTW's inverse is unnormalised
        overlap.withUnsafeMutableBufferPointer { overlap in
            overlap.update(repeating: 0)
            magnitude.withUnsafeBufferPointer { magnitude in
                angles.withUnsafeBufferPointer { angles in
                    stft.windowValues.withUnsafeBufferPointer { window in
                        for t in 0..<frames {
                            mf_apply_magnitude(magnitude.baseAddress! + t * bins, angles.baseAddress! + 2 * t * bins,
                                               buffers.complexFloats, Int32(bins))
                            stft.fft.inverse(buffers)
                            mf_overlap_add(buffers.real, window.baseAddress!, scale, overlap.baseAddress! + t * hop,
                                           Int32(nFFT))
                        }
                    }
                }
            }
        }
        let start = stft.center ? nFFT / 2 : 0
        let available = max(0, min(length, overlap.count - start))
        let (pad, length) = (self.pad, self.length)
        padded.withUnsafeMutableBufferPointer { padded in
            overlap.withUnsafeBufferPointer { overlap in
                inverseWindowSum.withUnsafeBufferPointer { inverseWindowSum in
                    mf_multiply(overlap.baseAddress! + start, inverseWindowSum.baseAddress! + start,
                                padded.baseAddress! + pad, Int32(available))
                }
            }
            for i in available..<length { padded[pad + i] = 0 }
            if stft.center { stft.fillPadding(padded.baseAddress!, count: length) }
        }
    }

    /// STFT(signal), and with `updateAngles` the momentum step and projection.
    /// Returns the spectral convergence of `signal`.
    private mutating func forward(alpha: Float, measure: Bool = true, updateAngles: Bool = true) -> Float {
        var error = 0.0
        let bins = self.bins
        let frameCount = min(frames, stft.frameCount(samples: length))
        padded.withUnsafeBufferPointer { padded in
            previous.withUnsafeMutableBufferPointer { previous in
                angles.withUnsafeMutableBufferPointer { angles in
                    magnitude.withUnsafeBufferPointer { magnitude in
                        for t in 0..<frameCount {
                            stft.window(from: padded.baseAddress! + t * stft.hopLength, into: buffers)
                            stft.fft.forward(buffers)
                            let spectrum = buffers.complexFloats
                            if updateAngles {
                                error += mf_momentum_project(spectrum, previous.baseAddress! + 2 * t * bins,
                                                             angles.baseAddress! + 2 * t * bins,
                                                             magnitude.baseAddress! + t * bins, alpha, Int32(bins),
                                                             measure ? 1 : 0)
                            } else {
                                for k in 0..<bins {
                                    let (re, im) = (spectrum[2 * k], spectrum[2 * k + 1])
                                    let d = Double(magnitude[t * bins + k]) - Double((re * re + im * im).squareRoot())
                                    error += d * d
                                }
                            }
                        }
                    }
                }
            }
        }
        // Frames the shorter signal no longer reaches count in full.
        for t in frameCount..<frames {
            for k in 0..<bins { error += Double(magnitude[t * bins + k]) * Double(magnitude[t * bins + k]) }
        }
        return norm > 0 ? Float(error.squareRoot() / norm) : 0
    }
}

/// (cos, sin) of 2 pi j / 4096 for j < 4096.
private let unitCircle: [(Float, Float)] = (0..<4_096).map { j in
    let phase = 2 * Double.pi * Double(j) / 4_096
    return (Float(cos(phase)), Float(sin(phase)))
}

/// SplitMix64 (Steele, Lea & Flood 2014): small, fast, and the same on every platform.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

