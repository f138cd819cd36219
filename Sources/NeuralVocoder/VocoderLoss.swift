import BLAS
import Foundation
import Spectral

/// The learned vocoder's losses for one clip, each with its gradient (means over the clip's
/// elements; `VocoderTrainer` averages clips):
///
/// - on the sound it makes (through the inverse STFT):
///   - multi-resolution STFT (Yamamoto et al. 2020): at nFFT / 2, nFFT and 2 nFFT (hop a
///     quarter of each), spectral convergence ||M^ - M||_F / ||M||_F plus the mean
///     |log(M^ + eps) - log(M + eps)|, averaged over the resolutions;
///   - mel: mean |ln(mel^ + eps) - ln(mel + eps)| through the front end's own STFT and filters;
/// - on the spectrum it predicts, against the true STFT of the clip:
///   - magnitude: mean |log |S^| - log |S||;
///   - phase (APNet, Ai & Ling 2023; FreeV): the anti-wrapped differences
///     aw(x) = |x - 2 pi round(x / 2 pi)| of the instantaneous phase, of its differences across
///     bins (group delay) and across frames (instantaneous frequency), each a mean weighted by
///     the true magnitude (`LossWeights.phaseByMagnitude`; the weights average 1): the phase of
///     a bin too quiet to hear is noise, and matching it only spends the network's capacity.
///
/// M and mel of silence would make log terms (and their gradients, 1 / (M^ + eps)) without
/// bound: eps is 1e-3 for magnitudes (about -114 dB below a full-scale sine's peak at nFFT
/// 1024) and 1e-5 for mel powers.
public struct VocoderLoss: Sendable {
    public let weights: LossWeights
    let resolutions: [STFT]
    let melSTFT: STFT
    /// The front end's mel filters `[M, K]`.
    let filters: [Float]
    let (bands, melBins): (Int, Int)
    static let magnitudeEpsilon: Float = 1e-3
    static let melEpsilon: Float = 1e-5

    public init(frontEnd: FrontEndConfiguration, weights: LossWeights) throws {
        self.weights = weights
        let n = frontEnd.nFFT
        resolutions = try [max(16, n / 2), n, 2 * n].map { try STFT(nFFT: $0, hopLength: max(1, $0 / 4)) }
        let mel = try MelFrontEnd(frontEnd)
        melSTFT = try STFT(nFFT: n, hopLength: frontEnd.hopLength, winLength: frontEnd.winLength, window: frontEnd.window)
        filters = mel.filterbank.weights
        (bands, melBins) = (frontEnd.nMels, mel.filterbank.bins)
    }

    /// The terms on the sound, by name, and the weighted sum's gradient with respect to `generated`.
    public func signalTerms(generated: [Float], target: [Float]) throws -> (terms: [String: Float], gradient: [Float]) {
        precondition(generated.count == target.count, "VocoderLoss: \(generated.count) vs \(target.count) samples")
        var gradient = [Float](repeating: 0, count: generated.count)
        var convergence = 0.0, logDistance = 0.0
        for stft in resolutions {
            let (g, r) = (try stft.transform(generated), try stft.transform(target))
            let (mine, theirs) = (g.magnitude(), r.magnitude())
            let n = Float(mine.values.count)
            var difference = 0.0, reference = 0.0
            for i in mine.values.indices {
                let d = Double(mine.values[i] - theirs.values[i])
                difference += d * d
                reference += Double(theirs.values[i]) * Double(theirs.values[i])
            }
            let (norm, referenceNorm) = (Float(difference.squareRoot()), Float(max(reference, 1e-12).squareRoot()))
            convergence += Double(norm / referenceNorm)
            // dL/dM^ of SC + log distance, for this resolution's share of the mean.
            let share = weights.multiResolution / Float(resolutions.count)
            var dMagnitude = [Float](repeating: 0, count: mine.values.count)
            for i in mine.values.indices {
                let (m, t) = (mine.values[i], theirs.values[i])
                let logDifference = log(m + Self.magnitudeEpsilon) - log(t + Self.magnitudeEpsilon)
                logDistance += Double(abs(logDifference) / n)
                // 1. d SC / dM^ = (M^ - M) / (||M^ - M|| ||M||)
                var d = norm > 0 ? (m - t) / (norm * referenceNorm) : 0
                // 2. d mean|log(M^ + eps) - log(M + eps)| / dM^ = sign / (n (M^ + eps))
                d += (logDifference > 0 ? 1 : logDifference < 0 ? -1 : 0) / (n * (m + Self.magnitudeEpsilon))
                dMagnitude[i] = share * d
            }
            gradient.add(stft.transformAdjoint(Self.throughMagnitude(dMagnitude, of: g), samples: generated.count))
        }
        let melLoss = try melTerm(generated: generated, target: target, gradient: &gradient)
        let count = Double(resolutions.count)
        return (["sc": Float(convergence / count), "log_stft": Float(logDistance / count), "mel": melLoss], gradient)
    }

    /// The mel term; adds its weighted gradient into `gradient`.
    private func melTerm(generated: [Float], target: [Float], gradient: inout [Float]) throws -> Float {
        let (g, r) = (try melSTFT.transform(generated), try melSTFT.transform(target))
        let frames = g.frames
        let (mine, theirs) = (mel(of: g.magnitude(power: 2).values, frames: frames), mel(of: r.magnitude(power: 2).values, frames: frames))
        let n = Float(mine.count)
        var total = 0.0
        var dMel = [Float](repeating: 0, count: mine.count)
        for i in mine.indices {
            let d = log(mine[i] + Self.melEpsilon) - log(theirs[i] + Self.melEpsilon)
            total += Double(abs(d) / n)
            dMel[i] = weights.mel * (d > 0 ? 1 : d < 0 ? -1 : 0) / (n * (mine[i] + Self.melEpsilon))
        }
        // dPower[K, T] = F^T dMel;  d|X|^2 / dRe = 2 Re, / dIm = 2 Im
        var dPower = [Float](repeating: 0, count: melBins * frames)
        BLAS.sgemm(transposeA: true, m: melBins, n: frames, k: bands, a: filters, b: dMel, c: &dPower)
        var dSpectrum = ComplexSpectrogram(bins: g.bins, frames: frames, real: g.real, imaginary: g.imaginary)
        for i in dPower.indices {
            dSpectrum.real[i] *= 2 * dPower[i]
            dSpectrum.imaginary[i] *= 2 * dPower[i]
        }
        gradient.add(melSTFT.transformAdjoint(dSpectrum, samples: generated.count))
        return Float(total)
    }

    /// F P for a power spectrogram P `[K, T]`: `[M, T]`.
    private func mel(of power: [Float], frames: Int) -> [Float] {
        var out = [Float](repeating: 0, count: bands * frames)
        BLAS.sgemm(m: bands, n: frames, k: melBins, a: filters, b: power, c: &out)
        return out
    }

    /// dL/dRe, dL/dIm from dL/d|X|: |X| = sqrt(Re^2 + Im^2), so dRe = d|X| Re / |X| (0 at |X| = 0).
    static func throughMagnitude(_ dMagnitude: [Float], of x: ComplexSpectrogram) -> ComplexSpectrogram {
        var out = ComplexSpectrogram(bins: x.bins, frames: x.frames, real: x.real, imaginary: x.imaginary)
        for i in dMagnitude.indices {
            let magnitude = (x.real[i] * x.real[i] + x.imaginary[i] * x.imaginary[i]).squareRoot()
            let scale = magnitude > 0 ? dMagnitude[i] / magnitude : 0
            out.real[i] *= scale
            out.imaginary[i] *= scale
        }
        return out
    }

    /// The terms on the predicted spectrum `[K, T]` against the true one, by name, and the
    /// weighted sum's gradients with respect to the predicted log magnitude and phase.
    public func spectrumTerms(logMagnitude: ArraySlice<Float>, phase: ArraySlice<Float>, trueLogMagnitude: ArraySlice<Float>,
                              truePhase: ArraySlice<Float>, bins: Int, frames: Int)
        -> (terms: [String: Float], dLogMagnitude: [Float], dPhase: [Float])
    {
        let count = bins * frames
        let (z, p, zTrue, pTrue) = (Array(logMagnitude), Array(phase), Array(trueLogMagnitude), Array(truePhase))
        var dLogMagnitude = [Float](repeating: 0, count: count), dPhase = dLogMagnitude
        var magnitudeLoss: Float = 0
        for i in 0..<count {
            let d = z[i] - zTrue[i]
            magnitudeLoss += abs(d) / Float(count)
            dLogMagnitude[i] = weights.magnitude * (d > 0 ? 1 : d < 0 ? -1 : 0) / Float(count)
        }
        // Each element's weight: its true magnitude over the mean one, or 1.
        var weight = [Float](repeating: 1, count: count)
        if weights.phaseByMagnitude {
            let magnitudes = zTrue.map { exp($0) }
            let mean = max(magnitudes.reduce(0, +) / Float(max(1, count)), 1e-12)
            weight = magnitudes.map { $0 / mean }
        }
        // Each phase term: mean w aw(D p^ - D p) for a difference D (identity, across bins, across
        // frames; a pair weighs the mean of its two weights); its gradient w sign(wrapped) / n goes
        // to both ends of each difference.
        func term(_ pairs: [(Int, Int?)]) -> Float {
            var total: Float = 0
            let n = Float(max(1, pairs.count))
            for (i, j) in pairs {
                let difference = (p[i] - (j.map { p[$0] } ?? 0)) - (pTrue[i] - (j.map { pTrue[$0] } ?? 0))
                let wrapped = difference - 2 * .pi * (difference / (2 * .pi)).rounded()
                let w = j.map { (weight[i] + weight[$0]) / 2 } ?? weight[i]
                total += w * abs(wrapped) / n
                let g = weights.phase * w * (wrapped > 0 ? 1 : wrapped < 0 ? -1 : 0) / n
                dPhase[i] += g
                if let j { dPhase[j] -= g }
            }
            return total
        }
        let instantaneous = term((0..<count).map { ($0, nil) })
        let groupDelay = term((1..<max(1, bins)).flatMap { k in (0..<frames).map { (k * frames + $0, Optional((k - 1) * frames + $0)) } })
        let frequency = term((0..<bins).flatMap { k in (1..<max(1, frames)).map { (k * frames + $0, Optional(k * frames + $0 - 1)) } })
        return (["magnitude": magnitudeLoss, "phase_ip": instantaneous, "phase_gd": groupDelay, "phase_iaf": frequency],
                dLogMagnitude, dPhase)
    }

    /// The weighted total of named terms.
    public func total(_ terms: [String: Float]) -> Float {
        weights.multiResolution * ((terms["sc"] ?? 0) + (terms["log_stft"] ?? 0)) + weights.mel * (terms["mel"] ?? 0)
            + weights.magnitude * (terms["magnitude"] ?? 0)
            + weights.phase * ((terms["phase_ip"] ?? 0) + (terms["phase_gd"] ?? 0) + (terms["phase_iaf"] ?? 0))
    }
}

extension Array where Element == Float {
    /// self += other, elementwise.
    mutating func add(_ other: [Float]) {
        precondition(count == other.count)
        withUnsafeMutableBufferPointer { a in other.withUnsafeBufferPointer { b in for i in 0..<a.count { a[i] += b[i] } } }
    }
}
