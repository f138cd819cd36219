import CSpectralKernels
import Foundation

/// The Hz <-> mel mapping.
public enum MelScale: String, CaseIterable, Codable, Sendable {
    /// Slaney's Auditory Toolbox: linear below 1 kHz (200/3 Hz per mel), logarithmic
    /// above (27 mels per factor 6.4). librosa's default.
    case slaney
    /// HTK: mel = 2595 log10(1 + f / 700).
    case htk

    public func mel(fromHz hz: Double) -> Double {
        switch self {
        case .htk:
            return 2595 * log10(1 + hz / 700)
        case .slaney:
            let linearStep = 200.0 / 3, logStart = 1000.0, logStartMel = logStart / linearStep
            let logStep = log(6.4) / 27
            return hz >= logStart ? logStartMel + log(hz / logStart) / logStep : hz / linearStep
        }
    }

    public func hz(fromMel mel: Double) -> Double {
        switch self {
        case .htk:
            return 700 * (pow(10, mel / 2595) - 1)
        case .slaney:
            let linearStep = 200.0 / 3, logStart = 1000.0, logStartMel = logStart / linearStep
            let logStep = log(6.4) / 27
            return mel >= logStartMel ? logStart * exp(logStep * (mel - logStartMel)) : mel * linearStep
        }
    }
}

/// How each triangular filter is scaled.
public enum MelNorm: String, CaseIterable, Codable, Sendable {
    /// Peak 1.
    case none
    /// Area normalisation: each filter divided by half its width in Hz, so that the
    /// filters have constant energy per channel (librosa's default `norm="slaney"`).
    case slaney
}

/// Triangular mel filters over FFT bins, built as `librosa.filters.mel` builds them.
///
/// `nMels + 2` points evenly spaced in mel from `fMin` to `fMax` give the filters'
/// edges and centres; filter m rises from point m to m + 1 and falls to m + 2,
/// evaluated at the bin frequencies `k * sampleRate / nFFT`. Computed in Double,
/// stored in Float32 as librosa's default dtype.
public struct MelFilterbank: Sendable {
    public let sampleRate: Int
    public let nFFT: Int
    public let nMels: Int
    public let fMin: Double
    public let fMax: Double
    public let scale: MelScale
    public let norm: MelNorm
    /// Dense weights `[nMels, nFFT / 2 + 1]`, row-major.
    public let weights: [Float]
    /// Each filter's non-zero span, packed: filter m covers bins
    /// `bandStart[m] ..< bandStart[m] + bandLength[m]` with weights
    /// `packedWeights[bandOffset[m]...]`. Applying the filters this way touches about
    /// 2 * bins values per frame instead of nMels * bins.
    let bandStart: [Int]
    let bandLength: [Int]
    let bandOffset: [Int]
    let packedWeights: [Float]

    /// Each filter's first non-zero bin and its non-zero weights.
    public var bands: [(start: Int, weights: [Float])] {
        (0..<nMels).map { m in (bandStart[m], Array(packedWeights[bandOffset[m]..<bandOffset[m] + bandLength[m]])) }
    }

    public var bins: Int { nFFT / 2 + 1 }

    /// - Parameter fMax: `nil` means the Nyquist frequency, `sampleRate / 2`.
    public init(sampleRate: Int, nFFT: Int, nMels: Int, fMin: Double = 0, fMax: Double? = nil,
                scale: MelScale = .slaney, norm: MelNorm = .slaney) throws {
        let nyquist = Double(sampleRate) / 2
        let fMax = fMax ?? nyquist
        guard sampleRate > 0 else {
            throw SpectralError.invalidParameter(name: "sampleRate", value: "\(sampleRate)", accepted: "a positive rate in Hz")
        }
        guard nFFT >= 2 else {
            throw SpectralError.invalidParameter(name: "nFFT", value: "\(nFFT)", accepted: "at least 2")
        }
        guard nMels >= 1 && nMels <= 4096 else {
            throw SpectralError.invalidParameter(name: "nMels", value: "\(nMels)", accepted: "1...4096")
        }
        guard fMin >= 0 && fMin.isFinite && fMin < fMax else {
            throw SpectralError.invalidParameter(name: "fMin", value: "\(fMin) Hz", accepted: "0 <= fMin < fMax (\(fMax) Hz)")
        }
        guard fMax <= nyquist else {
            throw SpectralError.invalidParameter(name: "fMax", value: "\(fMax) Hz",
                                                 accepted: "at most sampleRate / 2 = \(nyquist) Hz")
        }
        self.sampleRate = sampleRate
        self.nFFT = nFFT
        self.nMels = nMels
        self.fMin = fMin
        self.fMax = fMax
        self.scale = scale
        self.norm = norm

        let bins = nFFT / 2 + 1
        let binHz = (0..<bins).map { Double($0) * Double(sampleRate) / Double(nFFT) }
        let points = Self.melPoints(count: nMels + 2, fMin: fMin, fMax: fMax, scale: scale)
        var weights = [Float](repeating: 0, count: nMels * bins)
        var bandStart: [Int] = [], bandLength: [Int] = [], bandOffset: [Int] = [], packed: [Float] = []
        for m in 0..<nMels {
            let (left, centre, right) = (points[m], points[m + 1], points[m + 2])
            // Slaney: 2 / (right - left), the inverse of the triangle's half-base in Hz.
            let gain = norm == .slaney ? 2 / (right - left) : 1
            var start = bins, end = 0
            for k in 0..<bins {
                let rising = (binHz[k] - left) / (centre - left)
                let falling = (right - binHz[k]) / (right - centre)
                let w = max(0, min(rising, falling)) * gain
                weights[m * bins + k] = Float(w)
                if w > 0 { start = min(start, k); end = k + 1 }
            }
            if start >= end { (start, end) = (0, 0) }
            bandStart.append(start)
            bandLength.append(end - start)
            bandOffset.append(packed.count)
            packed += weights[m * bins + start..<m * bins + end]
        }
        self.weights = weights
        self.bandStart = bandStart
        self.bandLength = bandLength
        self.bandOffset = bandOffset
        self.packedWeights = packed
    }

    /// Filters that cover no FFT bin (too many mels for the FFT size); librosa warns
    /// about them, and their output is always 0.
    public var emptyFilters: [Int] { (0..<nMels).filter { bandLength[$0] == 0 } }

    /// `count` frequencies in Hz evenly spaced in mel from `fMin` to `fMax`
    /// (librosa's `mel_frequencies`).
    public static func melPoints(count: Int, fMin: Double, fMax: Double, scale: MelScale) -> [Double] {
        let low = scale.mel(fromHz: fMin), high = scale.mel(fromHz: fMax)
        return (0..<count).map { i in
            let fraction = count == 1 ? 0 : Double(i) / Double(count - 1)
            return scale.hz(fromMel: low + (high - low) * fraction)
        }
    }

    /// `mel[m] = sum_k weights[m, k] * spectrum[k]` for one frame's `bins` values.
    @inline(__always)
    func apply(spectrum: UnsafePointer<Float>, into mel: UnsafeMutablePointer<Float>, stride: Int) {
        packedWeights.withUnsafeBufferPointer { packed in
            for m in 0..<nMels {
                let w = packed.baseAddress! + bandOffset[m]
                let s = spectrum + bandStart[m]
                var sum: Float = 0
                for k in 0..<bandLength[m] { sum += w[k] * s[k] }
                mel[m * stride] = sum
            }
        }
    }

    /// Frames the SIMD path of `applyLanes` handles at once.
    static let lanes = 8

    /// `mel[m, lane] = sum_k weights[m, k] * spectra[k * lanes + lane]` for `count` (at
    /// most `lanes`) frames whose spectra are interleaved bin by bin; band m's results go
    /// to `output[m * stride + lane]`. Each lane sums in the order a one-frame loop would.
    @inline(__always)
    func applyLanes(spectra: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, stride: Int, count: Int) {
        mf_filterbank8(spectra, packedWeights, bandStart, bandLength, bandOffset, Int32(nMels), output, stride,
                       Int32(count))
    }

    /// The mel spectrogram `[nMels, frames]` of a linear one `[bins, frames]` (`weights @ S`).
    public func apply(_ spectrogram: Spectrogram) throws -> Spectrogram {
        guard spectrogram.bins == bins else {
            throw SpectralError.invalidParameter(name: "spectrogram bins", value: "\(spectrogram.bins)",
                                                 accepted: "nFFT / 2 + 1 = \(bins)")
        }
        let frames = spectrogram.frames
        var output = Spectrogram(bins: nMels, frames: frames)
        var column = [Float](repeating: 0, count: bins)
        output.values.withUnsafeMutableBufferPointer { out in
            for t in 0..<frames {
                for k in 0..<bins { column[k] = spectrogram.values[k * frames + t] }
                column.withUnsafeBufferPointer { apply(spectrum: $0.baseAddress!, into: out.baseAddress! + t, stride: frames) }
            }
        }
        return output
    }
}
