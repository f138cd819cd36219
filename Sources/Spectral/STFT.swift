import CSpectralKernels

/// How `center` pads the signal's ends by `nFFT / 2` samples (librosa's `pad_mode`).
public enum PadMode: String, CaseIterable, Codable, Sendable {
    /// Zeros (librosa's default since 0.10).
    case constant
    /// Mirror without repeating the edge sample, as `numpy.pad(mode="reflect")`.
    case reflect
}

/// Short-time Fourier transform on FFTW, with librosa's conventions.
///
/// Frame t covers samples `[t * hopLength, t * hopLength + nFFT)` of the (padded)
/// signal, multiplied by the window centred in `nFFT`. With `center`, the signal is
/// padded by `nFFT / 2` on both sides first, so frame t is centred on sample
/// `t * hopLength` and there are `1 + count / hopLength` frames.
public struct STFT: Sendable {
    public let nFFT: Int
    public let hopLength: Int
    public let winLength: Int
    public let window: Window
    public let center: Bool
    public let padMode: PadMode
    /// The window padded to `nFFT`.
    public let windowValues: [Float]
    let fft: RealFFT

    public var bins: Int { nFFT / 2 + 1 }

    /// - Parameters:
    ///   - winLength: the window's length, at most `nFFT`; `nil` means `nFFT`.
    public init(nFFT: Int, hopLength: Int, winLength: Int? = nil, window: Window = .hann,
                center: Bool = true, padMode: PadMode = .constant) throws {
        guard nFFT >= 2 && nFFT <= 1 << 20 else {
            throw SpectralError.invalidParameter(name: "nFFT", value: "\(nFFT)", accepted: "2...1048576")
        }
        let winLength = winLength ?? nFFT
        guard (1...nFFT).contains(winLength) else {
            throw SpectralError.invalidParameter(name: "winLength", value: "\(winLength)", accepted: "1...nFFT (\(nFFT))")
        }
        guard hopLength >= 1 else {
            throw SpectralError.invalidParameter(name: "hopLength", value: "\(hopLength)", accepted: "at least 1")
        }
        self.nFFT = nFFT
        self.hopLength = hopLength
        self.winLength = winLength
        self.window = window
        self.center = center
        self.padMode = padMode
        self.windowValues = window.values(winLength: winLength, nFFT: nFFT)
        self.fft = RealFFT.plan(size: nFFT)
    }

    /// The number of frames for a signal of `count` samples.
    public func frameCount(samples count: Int) -> Int {
        let padded = center ? count + 2 * (nFFT / 2) : count
        return padded < nFFT ? 0 : 1 + (padded - nFFT) / hopLength
    }

    /// Calls `body` with the frames' view of `samples` (padded when `center`), after
    /// checking there is a frame to take.
    func withFrames<R>(of samples: [Float], _ body: (FrameSource) throws -> R) throws -> R {
        guard !samples.isEmpty else {
            throw SpectralError.invalidParameter(name: "signal", value: "0 samples", accepted: "at least 1 sample")
        }
        guard center || samples.count >= nFFT else {
            throw SpectralError.invalidParameter(
                name: "signal", value: "\(samples.count) samples",
                accepted: "at least nFFT (\(nFFT)) samples when center is off")
        }
        let count = samples.count
        let pad = center ? nFFT / 2 : 0
        let paddedCount = count + 2 * pad
        // The padded signal's value at p, for the two short copies of its ends.
        func padded(_ p: Int) -> Float {
            let i = p - pad
            if (0..<count).contains(i) { return samples[i] }
            return padMode == .reflect ? samples[reflectedIndex(i, count: count)] : 0
        }
        let headCount = min(paddedCount, pad + nFFT)
        let tailStart = max(0, pad + count - nFFT)
        let head = (0..<headCount).map(padded)
        let tail = (tailStart..<paddedCount).map(padded)
        return try samples.withUnsafeBufferPointer { buffer in
            try head.withUnsafeBufferPointer { head in
                try tail.withUnsafeBufferPointer { tail in
                    try body(FrameSource(samples: buffer.baseAddress!, count: count, pad: pad, head: head,
                                         tail: tail, tailStart: tailStart))
                }
            }
        }
    }

    /// Frame `frame`, times the window, into `buffers.real`.
    @inline(__always)
    func window(frame: Int, of source: FrameSource, into buffers: FFTBuffers) {
        window(from: source.frameStart(frame * hopLength, length: nFFT), into: buffers)
    }

    /// The `nFFT` samples from `start`, times the window, into `buffers.real`.
    @inline(__always)
    func window(from start: UnsafePointer<Float>, into buffers: FFTBuffers) {
        mf_multiply(start, windowValues, buffers.real, Int32(nFFT))
    }

    /// Fills the `nFFT / 2` padding on both sides of `count` samples stored at
    /// `padded + nFFT / 2` as `center` pads them (zeros or reflection).
    func fillPadding(_ padded: UnsafeMutablePointer<Float>, count: Int) {
        let pad = nFFT / 2
        let samples = padded + pad
        for i in 0..<pad {
            switch padMode {
            case .constant:
                padded[pad - 1 - i] = 0
                samples[count + i] = 0
            case .reflect:
                padded[pad - 1 - i] = samples[reflectedIndex(-1 - i, count: count)]
                samples[count + i] = samples[reflectedIndex(count + i, count: count)]
            }
        }
    }

    /// Calls `body(frame, buffers)` for each frame in `frames`, right after the frame's
    /// windowed samples went through the forward FFT: `buffers.complex` then holds its
    /// `bins` values.
    func forEachFrame(of source: FrameSource, frames: Range<Int>, buffers: FFTBuffers,
                      _ body: (Int, FFTBuffers) -> Void) {
        for frame in frames {
            window(frame: frame, of: source, into: buffers)
            fft.forward(buffers)
            body(frame, buffers)
        }
    }

    /// The complex STFT `[bins, frames]`, equal to `librosa.stft(y, n_fft, hop_length,
    /// win_length, window, center, pad_mode)`.
    public func transform(_ samples: [Float]) throws -> ComplexSpectrogram {
        let frames = frameCount(samples: samples.count)
        var real = [Float](repeating: 0, count: bins * frames)
        var imaginary = real
        try withFrames(of: samples) { source in
            forEachFrame(of: source, frames: 0..<frames, buffers: FFTBuffers(size: nFFT)) { frame, buffers in
                let spectrum = buffers.complexFloats
                for bin in 0..<bins {
                    real[bin * frames + frame] = spectrum[2 * bin]
                    imaginary[bin * frames + frame] = spectrum[2 * bin + 1]
                }
            }
        }
        return ComplexSpectrogram(bins: bins, frames: frames, real: real, imaginary: imaginary)
    }

    /// |STFT|^power `[bins, frames]`: power 1 is the magnitude, 2 the power spectrogram.
    public func magnitude(_ samples: [Float], power: Float = 1) throws -> Spectrogram {
        try transform(samples).magnitude(power: power)
    }

    /// The inverse STFT by weighted overlap-add, as `librosa.istft`: each frame's
    /// inverse FFT times the window, summed, divided by the summed squared window
    /// where that sum is not negligible, and with `center` the padding removed.
    ///
    /// - Parameter length: the output's length; `nil` gives `hopLength * (frames - 1)`
    ///   with `center` (the length of any signal with that many frames, rounded down
    ///   to whole hops), `nFFT + hopLength * (frames - 1)` without. Pass the original
    ///   length to get the signal back exactly.
    public func inverse(_ stft: ComplexSpectrogram, length: Int? = nil) throws -> [Float] {
        guard stft.bins == bins else {
            throw SpectralError.invalidParameter(name: "stft bins", value: "\(stft.bins)",
                                                 accepted: "nFFT / 2 + 1 = \(bins)")
        }
        let frames = stft.frames
        guard frames > 0 else {
            throw SpectralError.invalidParameter(name: "stft frames", value: "0", accepted: "at least 1 frame")
        }
        let fullLength = nFFT + hopLength * (frames - 1)
        var signal = [Float](repeating: 0, count: fullLength)
        var windowSum = [Float](repeating: 0, count: fullLength)
        let buffers = FFTBuffers(size: nFFT)
        let scale = 1 / Float(nFFT)  // FFTW's inverse is unnormalised.
        for frame in 0..<frames {
            let spectrum = buffers.complexFloats
            for bin in 0..<bins {
                spectrum[2 * bin] = stft.real[bin * frames + frame]
                spectrum[2 * bin + 1] = stft.imaginary[bin * frames + frame]
            }
            fft.inverse(buffers)
            let start = frame * hopLength
            for n in 0..<nFFT {
                let w = windowValues[n]
                signal[start + n] += buffers.real[n] * scale * w
                windowSum[start + n] += w * w
            }
        }
        // librosa divides where the sum exceeds the smallest normal float32 (`tiny`).
        for i in 0..<fullLength where windowSum[i] > Float.leastNormalMagnitude {
            signal[i] /= windowSum[i]
        }
        let start = center ? nFFT / 2 : 0
        let naturalLength = center ? fullLength - 2 * (nFFT / 2) : fullLength
        let outputLength = length ?? naturalLength
        guard outputLength >= 0 else {
            throw SpectralError.invalidParameter(name: "length", value: "\(outputLength)", accepted: "0 or more")
        }
        var output = [Float](repeating: 0, count: outputLength)
        let available = max(0, min(outputLength, fullLength - start))
        for i in 0..<available { output[i] = signal[start + i] }
        return output
    }
}

/// The frames' view of a signal: with `center`, the signal padded by `pad` on both
/// ends, without copying it. A frame wholly inside the signal reads the samples in
/// place; one that reaches into the padding reads a short copy of that end (`head`
/// holds padded positions `0..<head.count`, `tail` those from `tailStart` on).
/// Valid only inside `STFT.withFrames`, which owns the samples' memory.
struct FrameSource: @unchecked Sendable {
    let samples: UnsafePointer<Float>
    let count: Int
    let pad: Int
    let head: UnsafeBufferPointer<Float>
    let tail: UnsafeBufferPointer<Float>
    let tailStart: Int

    /// Where the `length` padded values from padded position `start` are.
    @inline(__always)
    func frameStart(_ start: Int, length: Int) -> UnsafePointer<Float> {
        if start >= pad && start + length <= pad + count { return samples + (start - pad) }
        if start + length <= head.count { return head.baseAddress! + start }
        return tail.baseAddress! + (start - tailStart)
    }
}

/// numpy's "reflect" padding index for any `index` (repeating the mirror for pads
/// longer than the signal): -1 -> 1, count -> count - 2.
func reflectedIndex(_ index: Int, count: Int) -> Int {
    guard count > 1 else { return 0 }
    let period = 2 * (count - 1)
    var i = index % period
    if i < 0 { i += period }
    return i < count ? i : period - i
}

/// An array whose values the caller promises to overwrite before reading: skips
/// the zero-filling that showed up in profiles of the per-clip front end.
func uninitializedFloats(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}
