import Tensors

/// Augmentation of a judge's training images (`classifier train --augment`), so that a
/// classifier trained on a few speakers hears the word rather than the voice or the
/// microphone: per image `[C, H, W]` (H mel bands from low to high, W frames; -1 is silence),
///
/// - a warp of the band axis by a factor in 1 +- `maxWarp` (a longer or shorter vocal tract
///   moves every formant up or down together: vocal tract length perturbation, Jaitly and
///   Hinton 2013, taken here on the band index),
/// - a tilt: a straight line from -t at the lowest band to +t at the highest added to every
///   frame, t in +-`maxTilt` (in the image's units: 0.1 is 4 dB of an 80 dB range; another
///   microphone or room),
/// - one run of up to `maxFrequencyMask` bands and one of up to `maxTimeMask` frames silenced
///   (SpecAugment's masks, Park et al. 2019).
///
/// Only the training share is augmented, never the held-out images nor what `evaluate` judges.
/// The draws come from the training run's random numbers, which its checkpoint keeps: a
/// resumed run draws what an uninterrupted one would.
public struct ClassifierAugmentation: Codable, Equatable, Sendable {
    public var maxWarp: Float
    public var maxTilt: Float
    public var maxFrequencyMask: Int
    public var maxTimeMask: Int

    /// For images of `bands` x `frames`: warps up to 10%, tilts up to 0.1 (4 dB), masks up to
    /// 1/8 of the bands and of the frames.
    public init(bands: Int, frames: Int) {
        (maxWarp, maxTilt, maxFrequencyMask, maxTimeMask) = (0.1, 0.1, bands / 8, frames / 8)
    }

    public init(maxWarp: Float, maxTilt: Float, maxFrequencyMask: Int, maxTimeMask: Int) {
        (self.maxWarp, self.maxTilt, self.maxFrequencyMask, self.maxTimeMask) = (maxWarp, maxTilt, maxFrequencyMask, maxTimeMask)
    }

    /// One image's draw.
    public struct Draw: Equatable, Sendable {
        /// Output band h reads the input at band h / warp (linear interpolation; above the
        /// highest band, the highest band).
        public var warp: Float
        public var tilt: Float
        public var frequencyMask: Range<Int>
        public var timeMask: Range<Int>

        public init(warp: Float, tilt: Float, frequencyMask: Range<Int>, timeMask: Range<Int>) {
            (self.warp, self.tilt, self.frequencyMask, self.timeMask) = (warp, tilt, frequencyMask, timeMask)
        }
    }

    /// A draw for each of `count` images of `bands` x `frames`.
    public func draw(count: Int, bands: Int, frames: Int, random: inout RandomNumbers) -> [Draw] {
        (0..<count).map { _ in
            let warp = 1 + maxWarp * (2 * random.uniform() - 1)
            let tilt = maxTilt * (2 * random.uniform() - 1)
            let frequency = random.run(maxLength: maxFrequencyMask, within: bands)
            let time = random.run(maxLength: maxTimeMask, within: frames)
            return Draw(warp: warp, tilt: tilt, frequencyMask: frequency, timeMask: time)
        }
    }

    /// The augmented images `[N, C, H, W]`: y[h, w] = -1 where masked, else
    /// x(h / warp, w) + tilt * (2h / (H - 1) - 1).
    public func apply(_ x: Tensor, draws: [Draw]) -> Tensor {
        precondition(x.shape.count == 4 && draws.count == x.shape[0], "ClassifierAugmentation: \(draws.count) draws for \(x.shape)")
        let (channels, bands, frames) = (x.shape[1], x.shape[2], x.shape[3])
        var y = Tensor.zeros(like: x)
        for (n, d) in draws.enumerated() {
            for c in 0..<channels {
                let image = (n * channels + c) * bands * frames
                for h in 0..<bands {
                    let source = min(Float(h) / d.warp, Float(bands - 1))
                    let below = Int(source), fraction = source - Float(below)
                    let above = min(below + 1, bands - 1)
                    let line = bands > 1 ? d.tilt * (2 * Float(h) / Float(bands - 1) - 1) : 0
                    let masked = d.frequencyMask.contains(h)
                    for w in 0..<frames {
                        let out = image + h * frames + w
                        if masked || d.timeMask.contains(w) { y.values[out] = -1; continue }
                        let low = x.values[image + below * frames + w], high = x.values[image + above * frames + w]
                        y.values[out] = low + fraction * (high - low) + line
                    }
                }
            }
        }
        return y
    }
}
