import Foundation

/// Measures of the sound behind a linear magnitude spectrogram |STFT| `[bins, frames]`, needing
/// no phase: what acoustic rewards and checks ask of a clip.
public enum SpectralMeasures {
    /// The level in dB of the signal's mean square (20 log10 RMS: a full-scale sine is -3.01,
    /// a full-scale square wave 0), from Parseval's theorem per frame: the windowed frame's mean
    /// square is (|X_0|^2 + 2 sum |X_k|^2 + |X_N/2|^2) / (N sum w^2); frames are averaged.
    /// Silence gives `floor` dB.
    public static func level(_ magnitude: Spectrogram, stft: STFT, floor: Double = -120) -> Double {
        let n = stft.nFFT
        let windowEnergy = stft.windowValues.reduce(0.0) { $0 + Double($1) * Double($1) }
        var meanSquare = 0.0
        for t in 0..<magnitude.frames {
            var power = 0.0
            for k in 0..<magnitude.bins {
                let x = Double(magnitude[k, t])
                power += (k == 0 || 2 * k == n ? 1 : 2) * x * x
            }
            meanSquare += power / (Double(n) * windowEnergy)
        }
        meanSquare /= Double(max(1, magnitude.frames))
        return meanSquare > 0 ? max(floor, 10 * log10(meanSquare)) : floor
    }

    /// The spectral centroid in Hz: per frame sum f_k |X_k| / sum |X_k| (librosa's
    /// `spectral_centroid`), averaged over frames weighted by their energy so that near-silent
    /// frames do not count. 0 for silence.
    public static func centroid(_ magnitude: Spectrogram, sampleRate: Int, nFFT: Int) -> Double {
        var (weighted, energy) = (0.0, 0.0)
        for t in 0..<magnitude.frames {
            var (power, moment, amplitude) = (0.0, 0.0, 0.0)
            for k in 0..<magnitude.bins {
                let x = Double(magnitude[k, t])
                power += x * x
                moment += Double(k) * Double(sampleRate) / Double(nFFT) * x
                amplitude += x
            }
            if amplitude > 0 { weighted += power * moment / amplitude }
            energy += power
        }
        return energy > 0 ? weighted / energy : 0
    }
}
