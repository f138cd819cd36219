/// A real spectrogram: `[bins, frames]`, row-major, so `values[bin * frames + frame]`.
///
/// This is librosa's orientation (`S[f, t]`) and the one layout MelForge uses for
/// every spectrogram, linear or mel, in memory and in `.npy` files; as a picture
/// or a model's image it is `[H, W] = [bins, frames]`.
public struct Spectrogram: Equatable, Sendable {
    public var bins: Int
    public var frames: Int
    public var values: [Float]

    public init(bins: Int, frames: Int, values: [Float]) {
        precondition(bins >= 0 && frames >= 0 && values.count == bins * frames,
                     "Spectrogram: \(values.count) values do not fill [\(bins), \(frames)]")
        self.bins = bins
        self.frames = frames
        self.values = values
    }

    public init(bins: Int, frames: Int, repeating value: Float = 0) {
        self.init(bins: bins, frames: frames, values: [Float](repeating: value, count: bins * frames))
    }

    public subscript(bin: Int, frame: Int) -> Float {
        get { values[bin * frames + frame] }
        set { values[bin * frames + frame] = newValue }
    }
}

/// A complex STFT: `[bins, frames]` like `Spectrogram`, real and imaginary parts
/// in two planes.
public struct ComplexSpectrogram: Equatable, Sendable {
    public var bins: Int
    public var frames: Int
    public var real: [Float]
    public var imaginary: [Float]

    public init(bins: Int, frames: Int, real: [Float], imaginary: [Float]) {
        precondition(real.count == bins * frames && imaginary.count == bins * frames)
        self.bins = bins
        self.frames = frames
        self.real = real
        self.imaginary = imaginary
    }

    /// |X|^power elementwise: power 1 is the magnitude, 2 the power spectrogram.
    public func magnitude(power: Float = 1) -> Spectrogram {
        var values = [Float](repeating: 0, count: real.count)
        for i in values.indices {
            let squared = real[i] * real[i] + imaginary[i] * imaginary[i]
            values[i] = power == 2 ? squared : power == 1 ? squared.squareRoot() : Foundation.pow(squared, power / 2)
        }
        return Spectrogram(bins: bins, frames: frames, values: values)
    }
}

import Foundation
