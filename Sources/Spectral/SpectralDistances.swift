import Foundation

// How far a resynthesized sound's magnitude spectrogram is from the original's. Both are
// `[bins, frames]` magnitudes (|STFT|) of the same shape, row-major. The one definition of
// each: the vocoders, `melforge evaluate` and the benchmarks all measure with these.

/// Spectral convergence ||S - S'||_F / ||S||_F (Sturmel & Daudet 2011): 0 for identical
/// magnitudes, 1 when the estimate is silent or twice the reference.
public func spectralConvergence(reference: [Float], estimate: [Float]) -> Double {
    precondition(reference.count == estimate.count, "spectralConvergence: \(reference.count) vs \(estimate.count) values")
    var (difference, energy) = (0.0, 0.0)
    for (r, e) in zip(reference, estimate) {
        difference += Double(r - e) * Double(r - e)
        energy += Double(r) * Double(r)
    }
    return energy > 0 ? (difference / energy).squareRoot() : (difference > 0 ? .infinity : 0)
}

/// The log-spectral distance in dB: for each frame the root mean square over bins of
/// 10 log10(S^2 / S'^2), averaged over frames. Powers below `floor` (by default 1e-10, the
/// front end's amin) count as the floor, so silence on both sides is no distance.
public func logSpectralDistance(reference: [Float], estimate: [Float], bins: Int, frames: Int,
                                floor: Double = 1e-10) -> Double {
    precondition(reference.count == bins * frames && estimate.count == bins * frames && frames > 0,
                 "logSpectralDistance: values do not fill [\(bins), \(frames)]")
    var total = 0.0
    for t in 0..<frames {
        var sum = 0.0
        for f in 0..<bins {
            let r = max(floor, Double(reference[f * frames + t]) * Double(reference[f * frames + t]))
            let e = max(floor, Double(estimate[f * frames + t]) * Double(estimate[f * frames + t]))
            let db = 10 * log10(r / e)
            sum += db * db
        }
        total += (sum / Double(bins)).squareRoot()
    }
    return total / Double(frames)
}

/// The spectral convergence of `samples` against a target magnitude `[bins, frames]`: the
/// samples' own |STFT| (with `stft`), both cut to the frames they share.
public func spectralConvergence(of samples: [Float], against magnitude: Spectrogram, stft: STFT) throws -> Double {
    let rebuilt = try stft.magnitude(samples)
    let frames = min(rebuilt.frames, magnitude.frames)
    func cut(_ s: Spectrogram) -> [Float] {
        (0..<s.bins).flatMap { k in s.values[(k * s.frames)..<(k * s.frames + frames)] }
    }
    return spectralConvergence(reference: cut(magnitude), estimate: cut(rebuilt))
}
