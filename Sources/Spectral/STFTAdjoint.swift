/// The adjoints of `STFT.transform` and `STFT.inverse`: both are linear maps (the STFT of the
/// signal's samples into real and imaginary parts, and back), and a loss's gradient goes
/// through a linear map by its transpose. They let a loss measured on a signal's spectrum
/// reach the signal (`transformAdjoint`), and one measured on a signal reach the spectrum it
/// was made from (`inverseAdjoint`): how a model that predicts spectra learns from its sound.
///
/// Both rest on the transpose of the real FFT pair. For X = rfft(f) (N reals, bins 0...N/2),
///
///     dL/df[m] = sum over k of dRe_k cos(2 pi k m / N) - dIm_k sin(2 pi k m / N)
///
/// which is FFTW's unnormalised inverse of G with G_k = dX_k / 2 for 0 < k < N/2 and G_k = dX_k
/// at k = 0 and N/2; and for f = c2r(X) (FFTW's unnormalised inverse, Im X_0 and Im X_N/2
/// ignored),
///
///     dL/dRe X_k = c_k Re rfft(g)_k,   dL/dIm X_k = c_k Im rfft(g)_k,   c_k = 2 inside, 1 at the ends
///
/// with dL/dIm X_0 = dL/dIm X_N/2 = 0. Tested by <A x, y> = <x, A^T y>.
extension STFT {
    /// dL/dsignal for a signal of `count` samples from dL/dSTFT `[bins, frames]` (real and
    /// imaginary planes, the layout `transform` returns).
    public func transformAdjoint(_ gradient: ComplexSpectrogram, samples count: Int) -> [Float] {
        precondition(gradient.bins == bins && gradient.frames == frameCount(samples: count), "STFT.transformAdjoint: shape")
        let pad = center ? nFFT / 2 : 0
        var padded = [Float](repeating: 0, count: count + 2 * pad)
        let buffers = FFTBuffers(size: nFFT)
        let frames = gradient.frames
        for frame in 0..<frames {
            let spectrum = buffers.complexFloats
            for bin in 0..<bins {
                let half: Float = (bin == 0 || 2 * bin == nFFT) ? 1 : 0.5
                spectrum[2 * bin] = gradient.real[bin * frames + frame] * half
                spectrum[2 * bin + 1] = gradient.imaginary[bin * frames + frame] * half
            }
            fft.inverse(buffers)
            // Frame t read padded samples t hop ..< t hop + nFFT, times the window.
            let start = frame * hopLength
            for n in 0..<nFFT { padded[start + n] += buffers.real[n] * windowValues[n] }
        }
        // The padding's gradient goes back to the samples it copied (reflect) or nowhere (zeros).
        var signal = Array(padded[pad..<(pad + count)])
        if padMode == .reflect {
            for p in 0..<pad {
                signal[reflectedIndex(p - pad, count: count)] += padded[p]
                signal[reflectedIndex(count + p, count: count)] += padded[pad + count + p]
            }
        }
        return signal
    }

    /// dL/dSTFT `[bins, frames]` from dL/dsignal, for the signal `inverse(stft, length:)` made
    /// of `frames` frames (`gradient.count` is that signal's length).
    public func inverseAdjoint(_ gradient: [Float], frames: Int) -> ComplexSpectrogram {
        let fullLength = nFFT + hopLength * (frames - 1)
        let start = center ? nFFT / 2 : 0
        // 1. The cropped signal's gradient in the full overlap-add's positions.
        var full = [Float](repeating: 0, count: fullLength)
        for i in 0..<max(0, min(gradient.count, fullLength - start)) { full[start + i] = gradient[i] }
        // 2. Through the division by the summed squared window.
        var windowSum = [Float](repeating: 0, count: fullLength)
        for frame in 0..<frames {
            for n in 0..<nFFT { windowSum[frame * hopLength + n] += windowValues[n] * windowValues[n] }
        }
        for i in 0..<fullLength where windowSum[i] > Float.leastNormalMagnitude { full[i] /= windowSum[i] }
        // 3. Each frame's share, through the window, the 1 / nFFT and the transposed inverse FFT.
        var real = [Float](repeating: 0, count: bins * frames), imaginary = real
        let buffers = FFTBuffers(size: nFFT)
        let scale = 1 / Float(nFFT)
        for frame in 0..<frames {
            for n in 0..<nFFT { buffers.real[n] = full[frame * hopLength + n] * windowValues[n] * scale }
            fft.forward(buffers)
            let spectrum = buffers.complexFloats
            for bin in 0..<bins {
                let end = bin == 0 || 2 * bin == nFFT
                real[bin * frames + frame] = spectrum[2 * bin] * (end ? 1 : 2)
                imaginary[bin * frames + frame] = end ? 0 : spectrum[2 * bin + 1] * 2
            }
        }
        return ComplexSpectrogram(bins: bins, frames: frames, real: real, imaginary: imaginary)
    }
}
