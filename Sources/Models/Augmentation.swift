import Tensors

/// Differentiable augmentation of the images a discriminator sees (DiffAugment, Zhao et al.
/// 2020), for log-mel images `[N, C, H, W]` in [-1, 1] (H mel bands, W frames; -1 is silence):
/// the real and the generated batch alike, before the discriminator, in both of a GAN step's
/// updates, so that a discriminator trained on a few thousand clips cannot memorise them and
/// the generator's gradient passes back through the same transform. Per image: a time shift
/// of up to `maxShift` frames (the frames shifted in are silence), one band of up to
/// `maxFrequencyMask` mel bands and one run of up to `maxTimeMask` frames set to silence
/// (SpecAugment's masks), and a gain of up to `maxGain` (in the image's units: 0.1 is 4 dB of
/// an 80 dB range) added everywhere.
public struct SpectrogramAugmentation: Codable, Equatable, Sendable {
    public var maxShift: Int
    public var maxFrequencyMask: Int
    public var maxTimeMask: Int
    public var maxGain: Float

    /// For images of `bands` x `frames`: shifts up to 1/8 of the frames, masks up to 1/8 of the
    /// bands and of the frames, gains up to 0.1 (4 dB).
    public init(bands: Int, frames: Int) {
        (maxShift, maxFrequencyMask, maxTimeMask, maxGain) = (frames / 8, bands / 8, frames / 8, 0.1)
    }

    public init(maxShift: Int, maxFrequencyMask: Int, maxTimeMask: Int, maxGain: Float) {
        (self.maxShift, self.maxFrequencyMask, self.maxTimeMask, self.maxGain) = (maxShift, maxFrequencyMask, maxTimeMask, maxGain)
    }

    /// One image's draw.
    public struct Draw: Equatable, Sendable {
        public var shift: Int
        /// Bands `frequencyMask` and frames `timeMask` are silenced.
        public var frequencyMask: Range<Int>
        public var timeMask: Range<Int>
        public var gain: Float

        public init(shift: Int, frequencyMask: Range<Int>, timeMask: Range<Int>, gain: Float) {
            (self.shift, self.frequencyMask, self.timeMask, self.gain) = (shift, frequencyMask, timeMask, gain)
        }
    }

    /// A draw for each of `count` images of `bands` x `frames` (a data-parallel process
    /// draws the whole batch's and keeps its rows, as for every random number of a step).
    public func draw(count: Int, bands: Int, frames: Int, random: inout RandomNumbers) -> [Draw] {
        (0..<count).map { _ in
            let shift = random.integer(upTo: 2 * maxShift) - maxShift
            let frequency = random.run(maxLength: maxFrequencyMask, within: bands)
            let time = random.run(maxLength: maxTimeMask, within: frames)
            let gain = maxGain * (2 * random.uniform() - 1)
            return Draw(shift: shift, frequencyMask: frequency, timeMask: time, gain: gain)
        }
    }

    /// The augmented images: y[n, c, h, w] = kept ? x[n, c, h, w - shift] + gain : -1 + gain,
    /// where a position is kept unless it is shifted in from outside or masked.
    public func apply(_ x: Tensor, draws: [Draw]) -> Tensor {
        precondition(x.shape.count == 4 && draws.count == x.shape[0], "SpectrogramAugmentation: \(draws.count) draws for \(x.shape)")
        let (channels, bands, frames) = (x.shape[1], x.shape[2], x.shape[3])
        var y = Tensor.zeros(like: x)
        for (n, d) in draws.enumerated() {
            for c in 0..<channels {
                for h in 0..<bands {
                    let row = ((n * channels + c) * bands + h) * frames
                    for w in 0..<frames {
                        let source = w - d.shift
                        let kept = source >= 0 && source < frames && !d.frequencyMask.contains(h) && !d.timeMask.contains(w)
                        y.values[row + w] = (kept ? x.values[row + source] : -1) + d.gain
                    }
                }
            }
        }
        return y
    }

    /// dL/dx from dL/dy: each kept position's gradient goes back to where it came from.
    public func backward(_ dy: Tensor, draws: [Draw]) -> Tensor {
        let (channels, bands, frames) = (dy.shape[1], dy.shape[2], dy.shape[3])
        var dx = Tensor.zeros(like: dy)
        for (n, d) in draws.enumerated() {
            for c in 0..<channels {
                for h in 0..<bands where !d.frequencyMask.contains(h) {
                    let row = ((n * channels + c) * bands + h) * frames
                    for w in 0..<frames where !d.timeMask.contains(w) {
                        let source = w - d.shift
                        if source >= 0 && source < frames { dx.values[row + source] += dy.values[row + w] }
                    }
                }
            }
        }
        return dx
    }
}
