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
/// s. PGHI integrates them from the largest coefficient outwards (the paper's heap; here a
/// `BucketQueue`), each neighbour by the trapezoidal rule, so that the phase travels through
/// the large, reliable coefficients first. Coefficients below `tolerance` x the largest get a
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
        let count = bins * frames
        let (a, m) = (Float(stft.hopLength), Float(stft.nFFT))
        let values = magnitude.values
        let largest = values.max() ?? 0
        var random = SplitMix64(seed: seed)
        func randomPhase() -> Double { 2 * Double.pi * Double(random.next() >> 11) / Double(1 << 53) }
        guard largest > 0 else { return (0..<count).map { _ in Float(randomPhase()) } }
        let floor = Float(Double(largest) * tolerance)
        let logs = values.map { log(max($0, floor * 1e-3)) }

        // Phase steps at each coefficient, window-centred convention: along time per hop (1),
        // along frequency per bin (2). Real signals' magnitudes mirror at 0 and Nyquist.
        let gamma = Float(self.gamma)
        var timeStep = [Float](repeating: 0, count: count)
        var frequencyStep = [Float](repeating: 0, count: count)
        for k in 0..<bins {
            let below = (k == 0 ? min(1, bins - 1) : k - 1) * frames, above = (k == bins - 1 ? max(0, bins - 2) : k + 1) * frames
            let row = k * frames
            let bend = 2 * Float.pi * Float(k) / m
            for t in 0..<frames {
                let dsdw = (logs[above + t] - logs[below + t]) * m / 2  // ds per cycle/sample
                timeStep[row + t] = a * (dsdw / gamma + bend)
                let dsdx: Float = frames == 1 ? 0
                    : t == 0 ? (logs[row + 1] - logs[row]) / a
                    : t == frames - 1 ? (logs[row + t] - logs[row + t - 1]) / a
                    : (logs[row + t + 1] - logs[row + t - 1]) / (2 * a)
                frequencyStep[row + t] = -gamma * dsdx / m
            }
        }

        // Integrate from the largest coefficient outwards; the small ones get random phases.
        var integration = HeapIntegration(values: values, bins: bins, frames: frames, timeStep: timeStep,
                                          frequencyStep: frequencyStep,
                                          queue: BucketQueue(logs: logs, floor: log(floor * 1e-3)))
        for i in 0..<count where values[i] < floor {
            integration.done[i] = true
            integration.phase[i] = randomPhase()
        }
        // 1. The large coefficients among themselves.
        let first = Float(Double(largest) * firstPassTolerance)
        integration.islands((0..<count).filter { values[$0] >= first }, above: first)
        // 2. On from the coefficients that have a phase and border on one that has not, to the
        //    rest above the floor; then what no path reached.
        integration.pushBorder(above: first)
        integration.spread(above: floor)
        integration.islands((0..<count).filter { !integration.done[$0] }, above: floor)

        // From the window's centre to the frame's first sample: the window centre is nFFT / 2
        // samples in, so bin k turns by -2 pi k (nFFT / 2) / nFFT = -pi k. Wrapped to
        // [0, 2 pi) in Double before the cosines and sines see it in Float.
        let turn = 2 * Double.pi
        return (0..<count).map { i in
            let angle = integration.phase[i] - Double.pi * Double(i / frames)
            return Float(angle - turn * (angle / turn).rounded(.down))
        }
    }
}

/// The heap integration's state: phases, which coefficients have one, and the queue of
/// coefficients whose neighbours are still to be visited.
private struct HeapIntegration {
    let values: [Float]
    let bins: Int
    let frames: Int
    let timeStep: [Float]
    let frequencyStep: [Float]
    var phase: [Double]
    var done: [Bool]
    var queue: BucketQueue

    init(values: [Float], bins: Int, frames: Int, timeStep: [Float], frequencyStep: [Float], queue: BucketQueue) {
        self.values = values
        self.bins = bins
        self.frames = frames
        self.timeStep = timeStep
        self.frequencyStep = frequencyStep
        phase = [Double](repeating: 0, count: values.count)
        done = [Bool](repeating: false, count: values.count)
        self.queue = queue
    }

    /// Gives `j` the phase of `i` plus `step` (the trapezoidal rule's mean of both ends'
    /// steps), when `j` has none and is at least `threshold`.
    @inline(__always)
    mutating func visit(_ j: Int, from i: Int, step: Float, threshold: Float) {
        guard !done[j], values[j] >= threshold else { return }
        phase[j] = phase[i] + Double(step)
        done[j] = true
        queue.push(j)
    }

    /// Integrates from what is queued, largest first, into coefficients at least `threshold`.
    mutating func spread(above threshold: Float) {
        while let i = queue.pop() {
            let (k, t) = (i / frames, i % frames)
            if t + 1 < frames { visit(i + 1, from: i, step: (timeStep[i] + timeStep[i + 1]) / 2, threshold: threshold) }
            if t > 0 { visit(i - 1, from: i, step: -(timeStep[i] + timeStep[i - 1]) / 2, threshold: threshold) }
            if k + 1 < bins {
                visit(i + frames, from: i, step: (frequencyStep[i] + frequencyStep[i + frames]) / 2, threshold: threshold)
            }
            if k > 0 { visit(i - frames, from: i, step: -(frequencyStep[i] + frequencyStep[i - frames]) / 2, threshold: threshold) }
        }
    }

    /// Starts from each coefficient of `candidates` not reached yet, largest first: one island
    /// each, its largest coefficient at phase 0.
    mutating func islands(_ candidates: [Int], above threshold: Float) {
        for start in candidates.sorted(by: { values[$0] > values[$1] }) where !done[start] {
            done[start] = true
            queue.push(start)
            spread(above: threshold)
        }
    }

    /// Queues every coefficient at least `threshold` that has a phase and borders on
    /// one that has none.
    mutating func pushBorder(above threshold: Float) {
        for i in 0..<values.count where done[i] && values[i] >= threshold {
            let (k, t) = (i / frames, i % frames)
            if (t + 1 < frames && !done[i + 1]) || (t > 0 && !done[i - 1]) || (k + 1 < bins && !done[i + frames])
                || (k > 0 && !done[i - frames]) {
                queue.push(i)
            }
        }
    }
}

/// The coefficients waiting for their neighbours to be visited, largest first: a bucket
/// queue over the log-magnitude in steps of 0.01 neper (0.087 dB), so that pushing and
/// popping cost O(1) instead of a binary heap's O(log n) (which was most of PGHI's time).
/// Within a bucket the order is last in, first out; magnitudes 0.1 dB apart are not told apart.
struct BucketQueue {
    /// Each coefficient's bucket.
    private let bucketOf: [Int32]
    /// The most recent coefficient pushed into each bucket, and for each coefficient the one
    /// pushed into its bucket before it (-1: none).
    private var head: [Int32]
    private var next: [Int32]
    /// No bucket above this one holds anything.
    private var top = -1

    static let resolution: Float = 100  // buckets per neper

    /// `logs[i]`: coefficient i's natural log-magnitude; `floor`: the lowest log pushed.
    init(logs: [Float], floor: Float) {
        let largest = logs.max() ?? floor
        bucketOf = logs.map { Int32(max(0, (($0 - floor) * Self.resolution).rounded(.down))) }
        head = [Int32](repeating: -1, count: Int(max(0, ((largest - floor) * Self.resolution).rounded(.down))) + 1)
        next = [Int32](repeating: -1, count: logs.count)
    }

    mutating func push(_ index: Int) {
        let bucket = Int(bucketOf[index])
        next[index] = head[bucket]
        head[bucket] = Int32(index)
        top = max(top, bucket)
    }

    mutating func pop() -> Int? {
        while top >= 0 && head[top] < 0 { top -= 1 }
        guard top >= 0 else { return nil }
        let index = Int(head[top])
        head[top] = next[index]
        return index
    }
}
