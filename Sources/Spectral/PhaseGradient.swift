import Foundation

/// Phase from the magnitude alone, without iterating: Phase Gradient Heap Integration (Prusa,
/// Balazs & Sondergaard 2017, "A noniterative method for reconstruction of phase from STFT
/// magnitude").
///
/// For a Gaussian window exp(-pi t^2 / gamma) the STFT's log-magnitude s and phase phi are
/// tied (Portnoff 1979; Auger & Flandrin 1995): with the phase measured from each window's
/// centre, in samples x and cycles per sample w,
///
///     d phi / dx = (1 / gamma) ds/dw + 2 pi w         (1: instantaneous frequency)
///     d phi / dw = -gamma ds/dx                       (2: local group delay)
///
/// so the phase's steps between neighbouring coefficients follow from finite differences of
/// s. PGHI integrates them from the largest coefficient outwards (a max-heap: the most
/// reliable, large coefficients first, each neighbour by the trapezoidal rule), since errors
/// in small coefficients matter least. Coefficients below `tolerance` x the largest get a
/// random phase. Windows other than a Gaussian use the Gaussian that fits them:
/// gamma = 0.25645 L^2 for a Hann window of length L (the paper's and ltfat's constants).
public struct PhaseGradient: Sendable {
    public let stft: STFT
    /// gamma, the fitted Gaussian's width in samples^2.
    public let gamma: Double
    /// Coefficients below this fraction of the largest get a random phase (1e-10: -200 dB).
    public var tolerance: Double = 1e-10
    /// The first pass integrates only the coefficients above this fraction of the largest
    /// (0.1: -20 dB), so that the phase of the large ones does not travel through small,
    /// unreliable ones; the second pass goes on from them to the rest.
    public var firstPassTolerance: Double = 0.1

    public init(stft: STFT) {
        self.stft = stft
        gamma = Self.gamma(window: stft.window, length: stft.winLength)
    }

    /// The Gaussian width that fits a window of `length` samples: ltfat's constants for Hann,
    /// Hamming and Blackman (within 2% of 4 pi times the window's second moment, which
    /// defines it for the rectangular window).
    public static func gamma(window: Window, length: Int) -> Double {
        let factor = switch window {
        case .hann: 0.25645
        case .hamming: 0.29794
        case .blackman: 0.17954
        case .rectangular: Double.pi / 3
        }
        return factor * Double(length) * Double(length)
    }

    /// The phase, in radians, of every coefficient of `magnitude` (`[bins, frames]`), as
    /// this STFT measures phase (from each frame's first sample), so that
    /// `magnitude * exp(i phase)` is an STFT to invert. `seed` draws the small coefficients'
    /// random phases.
    public func phase(_ magnitude: Spectrogram, seed: UInt64 = 0) -> [Float] {
        let (bins, frames) = (magnitude.bins, magnitude.frames)
        let (a, m) = (Double(stft.hopLength), Double(stft.nFFT))
        let largest = Double(magnitude.values.max() ?? 0)
        var phase = [Double](repeating: 0, count: bins * frames)
        var random = SplitMix64(seed: seed)
        guard largest > 0 else {
            return phase.indices.map { _ in Float(2 * Double.pi * Double(random.next() >> 11) / Double(1 << 53)) }
        }
        let floor = largest * tolerance
        let logs = magnitude.values.map { log(max(Double($0), floor * 1e-3)) }
        func s(_ k: Int, _ t: Int) -> Double { logs[k * frames + t] }

        // Phase steps at each coefficient, window-centred convention: along time per hop (1),
        // along frequency per bin (2). Real signals' magnitudes mirror at 0 and Nyquist.
        var timeStep = [Double](repeating: 0, count: bins * frames)
        var frequencyStep = [Double](repeating: 0, count: bins * frames)
        for k in 0..<bins {
            let below = k == 0 ? 1 : k - 1, above = k == bins - 1 ? max(0, bins - 2) : k + 1
            for t in 0..<frames {
                let dsdw = (s(above, t) - s(below, t)) * m / 2  // ds per cycle/sample
                timeStep[k * frames + t] = a * (dsdw / gamma + 2 * Double.pi * Double(k) / m)
                let dsdx: Double
                if frames == 1 {
                    dsdx = 0
                } else if t == 0 {
                    dsdx = (s(k, 1) - s(k, 0)) / a
                } else if t == frames - 1 {
                    dsdx = (s(k, t) - s(k, t - 1)) / a
                } else {
                    dsdx = (s(k, t + 1) - s(k, t - 1)) / (2 * a)
                }
                frequencyStep[k * frames + t] = -gamma * dsdx / m
            }
        }

        // Integrate from the largest coefficient outwards; the small ones get random phases.
        var done = [Bool](repeating: false, count: bins * frames)
        for i in done.indices where Double(magnitude.values[i]) < floor {
            done[i] = true
            phase[i] = 2 * Double.pi * Double(random.next() >> 11) / Double(1 << 53)
        }
        let order = done.indices.filter { !done[$0] }.sorted { magnitude.values[$0] > magnitude.values[$1] }
        var heap = MaxHeap(capacity: order.count)
        /// Integrates from what is on the heap into coefficients at least `threshold`.
        func spread(above threshold: Float) {
            while let i = heap.pop() {
                let (k, t) = (i / frames, i % frames)
                func visit(_ j: Int, _ step: Double) {
                    guard !done[j], magnitude.values[j] >= threshold else { return }
                    phase[j] = phase[i] + step
                    done[j] = true
                    heap.push(j, key: magnitude.values[j])
                }
                if t + 1 < frames { visit(i + 1, (timeStep[i] + timeStep[i + 1]) / 2) }
                if t > 0 { visit(i - 1, -(timeStep[i] + timeStep[i - 1]) / 2) }
                if k + 1 < bins { visit(i + frames, (frequencyStep[i] + frequencyStep[i + frames]) / 2) }
                if k > 0 { visit(i - frames, -(frequencyStep[i] + frequencyStep[i - frames]) / 2) }
            }
        }
        // 1. The large coefficients among themselves, island by island (each island's largest
        //    coefficient starts at phase 0).
        let first = Float(largest * firstPassTolerance)
        for start in order where !done[start] && magnitude.values[start] >= first {
            done[start] = true
            heap.push(start, key: magnitude.values[start])
            spread(above: first)
        }
        // 2. On from every coefficient with a phase to the rest above the floor.
        for i in order where done[i] { heap.push(i, key: magnitude.values[i]) }
        spread(above: Float(floor))
        for start in order where !done[start] {
            done[start] = true
            heap.push(start, key: magnitude.values[start])
            spread(above: Float(floor))
        }
        // From the window's centre to the frame's first sample: the window centre is nFFT / 2
        // samples in, so bin k turns by -2 pi k (nFFT / 2) / nFFT = -pi k.
        return phase.indices.map { i in
            let k = i / frames
            return Float((phase[i] - Double.pi * Double(k)).truncatingRemainder(dividingBy: 2 * Double.pi))
        }
    }
}

/// A binary max-heap of indices by a Float key.
struct MaxHeap {
    private var items: [(key: Float, index: Int)] = []

    init(capacity: Int) { items.reserveCapacity(capacity) }

    mutating func push(_ index: Int, key: Float) {
        items.append((key, index))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[parent].key < items[child].key else { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let (left, right) = (2 * parent + 1, 2 * parent + 2)
                var largest = parent
                if left < items.count && items[left].key > items[largest].key { largest = left }
                if right < items.count && items[right].key > items[largest].key { largest = right }
                guard largest != parent else { break }
                items.swapAt(parent, largest)
                parent = largest
            }
        }
        return top.index
    }
}
