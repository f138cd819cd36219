import Foundation

/// Analysis windows, periodic ("DFT-even") as `scipy.signal.get_window(name, N, fftbins=True)`
/// returns them and librosa uses them: w[n] for n in 0..<N with period N, not N - 1.
public enum Window: String, CaseIterable, Codable, Sendable {
    /// 0.5 - 0.5 cos(2 pi n / N).
    case hann
    /// 0.54 - 0.46 cos(2 pi n / N).
    case hamming
    /// 0.42 - 0.5 cos(2 pi n / N) + 0.08 cos(4 pi n / N).
    case blackman
    /// All ones (scipy's "boxcar").
    case rectangular

    /// The window's `length` values, computed in Double and rounded once.
    public func values(length: Int) -> [Float] {
        precondition(length > 0)
        let step = 2 * Double.pi / Double(length)
        return (0..<length).map { n in
            let phase = step * Double(n)
            switch self {
            case .hann: return Float(0.5 - 0.5 * cos(phase))
            case .hamming: return Float(0.54 - 0.46 * cos(phase))
            case .blackman: return Float(0.42 - 0.5 * cos(phase) + 0.08 * cos(2 * phase))
            case .rectangular: return 1
            }
        }
    }

    /// The window of `winLength` values centred in `nFFT` zeros (librosa's `pad_center`):
    /// `(nFFT - winLength) / 2` zeros on the left.
    public func values(winLength: Int, nFFT: Int) -> [Float] {
        precondition(winLength > 0 && winLength <= nFFT)
        var padded = [Float](repeating: 0, count: nFFT)
        let left = (nFFT - winLength) / 2
        for (i, value) in values(length: winLength).enumerated() { padded[left + i] = value }
        return padded
    }
}
