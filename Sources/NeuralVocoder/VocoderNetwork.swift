import Foundation
import Layers
import Models
import Spectral
import Tensors

// Dimension letters: B batch (clips or segments), T frames, M mel bands, K STFT bins
// (nFFT / 2 + 1).

/// Everything that defines a learned vocoder: the front end whose features it reads, the
/// network's shape, and how it trains. Stored in its checkpoint.
public struct LearnedVocoderConfiguration: Codable, Equatable, Sendable {
    /// The features it turns into sound; features made any other way are refused.
    public var frontEnd: FrontEndConfiguration
    /// The dB range mapped to [-1, 1] at the network's input (the training clips' top 80 dB,
    /// as the generative models' images).
    public var inputRange: LogMelNormalization
    public var width = 128
    public var hiddenWidth = 384
    public var blocks = 4
    public var kernelSize = 7
    /// Frames per training segment.
    public var segmentFrames = 32
    public var batchSize = 16
    public var learningRate: Float = 1e-3
    public var seed: UInt64 = 0
    /// Iterations of the NNLS mel inversion that gives the magnitude prior.
    public var nnlsIterations = 50
    public var weights = LossWeights()
    /// The discriminators it trains against (nil: none; `--adversarial`).
    public var adversarial: AdversarialConfiguration?
    /// Speed perturbation (`--speed-perturb`): every training clip is also trained on played at
    /// these speeds, its pitch and formants moved with it (more voices from the ones there
    /// are); nil: as recorded only.
    public var speeds: [Float]?
    /// The most speeds `speeds` may hold (each a copy of every clip in the cache).
    public static let maxSpeeds = 8

    public init(frontEnd: FrontEndConfiguration, inputRange: LogMelNormalization) {
        self.frontEnd = frontEnd
        self.inputRange = inputRange
    }

    public var bins: Int { frontEnd.nFFT / 2 + 1 }

    var networkShape: ConvNeXt1D.Shape {
        var shape = ConvNeXt1D.Shape(inputs: frontEnd.nMels, width: width, hiddenWidth: hiddenWidth, blocks: blocks,
                                     outputs: 3 * bins)
        shape.kernelSize = kernelSize
        return shape
    }
}

/// How much each loss counts (`VocoderLoss`).
public struct LossWeights: Codable, Equatable, Sendable {
    /// Multi-resolution STFT of the sound: spectral convergence + log magnitude.
    public var multiResolution: Float = 1
    /// L1 of the log-mel of the sound.
    public var mel: Float = 1
    /// L1 of the predicted log magnitude against the true one, frame by frame.
    public var magnitude: Float = 1
    /// Anti-wrapped instantaneous phase, group delay and instantaneous frequency against the true phase.
    public var phase: Float = 1
    /// Whether each bin's phase errors count by its true magnitude (else equally).
    public var phaseByMagnitude = true

    public init() {}

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        multiResolution = try container.decode(Float.self, forKey: .multiResolution)
        mel = try container.decode(Float.self, forKey: .mel)
        magnitude = try container.decode(Float.self, forKey: .magnitude)
        phase = try container.decode(Float.self, forKey: .phase)
        phaseByMagnitude = try container.decodeIfPresent(Bool.self, forKey: .phaseByMagnitude) ?? false
    }
}

/// The network of the learned vocoder (after Vocos, Siuzdak 2023, and FreeV, Lv et al. 2024):
/// a `ConvNeXt1D` reads each frame's log-mel features (`[B, T, M]`, in [-1, 1]) and writes,
/// per frame and bin, a correction c of the magnitude prior and a point (a, b) on the unit
/// circle that turns the phase prior:
///
///     log |S| = log prior + c            (prior: the NNLS inversion of the mel, clamped below)
///     phase   = phase prior + atan2(b, a) (phase prior: PGHI of the NNLS magnitude)
///     S       = |S| e^(i phase prior) (a, b) / |(a, b)|
///
/// Both start as nothing (the head's weights for c, a and b are zero, a's bias 1), so an
/// untrained vocoder is NNLS + PGHI, and training only has to learn what those miss: the
/// structure PGHI's phase already has (coherent group delay and instantaneous frequency) is
/// where the network starts, not something it must find. Spectra are `[B, K, T]`, each clip
/// laid out as a `ComplexSpectrogram`.
public final class VocoderNetwork: Module {
    public let configuration: LearnedVocoderConfiguration
    let backbone: ConvNeXt1D

    /// |S| is kept at most this (e^7, about 1100: a full-scale sine's peak is under 300 at nFFT 1024).
    static let largestLogMagnitude: Float = 7
    /// The prior's floor before the logarithm.
    static let priorFloor: Float = 1e-5
    /// |(a, b)| is taken as at least this, so that the direction's gradient stays finite.
    static let smallestRadius: Float = 1e-6

    public init(_ configuration: LearnedVocoderConfiguration, random: inout RandomNumbers) {
        self.configuration = configuration
        backbone = ConvNeXt1D(configuration.networkShape, random: &random)
        // Every output starts at "no change": c = 0 and (a, b) = (1, 0).
        let bins = configuration.bins
        backbone.headWeight.value.zero()
        if let bias = backbone.headBias {
            bias.value.zero()
            for k in 0..<bins { bias.value.values[bins + k] = 1 }
        }
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { prefixed("backbone", backbone.namedParameters) }

    /// The network's input `[B, T, M]` from features `[M, T]` each (dB, as the front end makes
    /// them): clamped to the input range and mapped to [-1, 1].
    public func input(_ features: [Spectrogram]) -> Tensor {
        let (m, t) = (configuration.frontEnd.nMels, features.first?.frames ?? 0)
        var values = [Float](repeating: 0, count: features.count * t * m)
        for (b, clip) in features.enumerated() {
            precondition(clip.bins == m && clip.frames == t, "VocoderNetwork.input: clips of one shape")
            var scaled = clip.values
            configuration.inputRange.normalize(&scaled)
            for band in 0..<m { for frame in 0..<t { values[(b * t + frame) * m + band] = scaled[band * t + frame] } }
        }
        return Tensor(shape: [features.count, t, m], values: values)
    }

    /// log(max(prior, floor)) of a magnitude prior `[K, T]`.
    public static func logPrior(_ magnitude: Spectrogram) -> [Float] {
        magnitude.values.map { log(max($0, priorFloor)) }
    }

    /// What the network said, per clip `[B, K, T]`.
    public struct Spectra: Sendable {
        public var batch: Int, bins: Int, frames: Int
        public var real: [Float]
        public var imaginary: [Float]
        /// log |S| (after the clamp).
        public var logMagnitude: [Float]
        /// The phase prior plus atan2(b, a).
        public var phase: [Float]

        /// Clip `b` as a complex STFT.
        public func spectrum(_ b: Int) -> ComplexSpectrogram {
            let range = (b * bins * frames)..<((b + 1) * bins * frames)
            return ComplexSpectrogram(bins: bins, frames: frames, real: Array(real[range]), imaginary: Array(imaginary[range]))
        }
    }

    public struct Cache {
        let backbone: ConvNeXt1D.Cache
        /// The network's output `[B, T, 3K]`.
        let output: Tensor
        let spectra: Spectra
        let phasePrior: [Float]
    }

    /// `input` `[B, T, M]`, the magnitude priors' logarithms and the phase priors (`[B, K, T]`
    /// each) -> spectra.
    public func forward(_ input: Tensor, logPrior: [Float], phasePrior: [Float]) -> (spectra: Spectra, cache: Cache) {
        let (batch, frames, bins) = (input.shape[0], input.shape[1], configuration.bins)
        precondition(logPrior.count == batch * bins * frames && phasePrior.count == logPrior.count,
                     "VocoderNetwork: priors of \(logPrior.count) and \(phasePrior.count) values")
        let (output, backboneCache) = backbone.forward(input)
        var spectra = Spectra(batch: batch, bins: bins, frames: frames, real: logPrior, imaginary: logPrior,
                              logMagnitude: logPrior, phase: logPrior)
        let o = output.values
        for b in 0..<batch {
            for t in 0..<frames {
                let row = (b * frames + t) * 3 * bins
                for k in 0..<bins {
                    let at = (b * bins + k) * frames + t
                    let z = min(logPrior[at] + o[row + k], Self.largestLogMagnitude)
                    let (a, c) = (o[row + bins + k], o[row + 2 * bins + k])
                    let radius = max((a * a + c * c).squareRoot(), Self.smallestRadius)
                    let magnitude = exp(z)
                    let (ua, uc) = (a / radius, c / radius)
                    let (cp, sp) = (cos(phasePrior[at]), sin(phasePrior[at]))
                    spectra.logMagnitude[at] = z
                    spectra.real[at] = magnitude * (cp * ua - sp * uc)
                    spectra.imaginary[at] = magnitude * (sp * ua + cp * uc)
                    spectra.phase[at] = phasePrior[at] + atan2(c, a)
                }
            }
        }
        return (spectra, Cache(backbone: backboneCache, output: output, spectra: spectra, phasePrior: phasePrior))
    }

    /// Accumulates every parameter's gradient from the loss's gradients with respect to the
    /// spectra's real and imaginary parts, log magnitude and phase (each `[B, K, T]`).
    public func backward(dReal: [Float], dImaginary: [Float], dLogMagnitude: [Float], dPhase: [Float], cache: Cache) {
        let spectra = cache.spectra
        let (batch, frames, bins) = (spectra.batch, spectra.frames, spectra.bins)
        let o = cache.output.values
        var dOutput = Tensor.zeros(cache.output.shape)
        for b in 0..<batch {
            for t in 0..<frames {
                let row = (b * frames + t) * 3 * bins
                for k in 0..<bins {
                    let at = (b * bins + k) * frames + t
                    let (a, c) = (o[row + bins + k], o[row + 2 * bins + k])
                    let squared = a * a + c * c
                    let radius = max(squared.squareRoot(), Self.smallestRadius)
                    let (ua, uc) = (a / radius, c / radius)
                    let magnitude = exp(spectra.logMagnitude[at])
                    // 1. S = |S| R u, R the rotation by the phase prior: with (dRe', dIm') = R^T (dRe, dIm),
                    //    d|S| = dRe' ua + dIm' uc;  du = |S| (dRe', dIm')
                    let (cp, sp) = (cos(cache.phasePrior[at]), sin(cache.phasePrior[at]))
                    let (dRe, dIm) = (cp * dReal[at] + sp * dImaginary[at], -sp * dReal[at] + cp * dImaginary[at])
                    let dMagnitude = dRe * ua + dIm * uc
                    // 2. log |S| = log prior + c (0 where clamped): dc = d|S| |S| + dlog|S|
                    let clamped = spectra.logMagnitude[at] >= Self.largestLogMagnitude
                    dOutput.values[row + k] = clamped ? 0 : dMagnitude * magnitude + dLogMagnitude[at]
                    // 3. u = (a, c) / r: d(a, c) = (du - u (u . du)) / r
                    let (dua, duc) = (dRe * magnitude, dIm * magnitude)
                    let along = ua * dua + uc * duc
                    var (da, dc) = ((dua - ua * along) / radius, (duc - uc * along) / radius)
                    // 4. phase = prior + atan2(c, a): dphase/da = -c / r^2, dphase/dc = a / r^2
                    if squared > 0 {
                        da -= dPhase[at] * c / squared
                        dc += dPhase[at] * a / squared
                    }
                    dOutput.values[row + bins + k] = da
                    dOutput.values[row + 2 * bins + k] = dc
                }
            }
        }
        backbone.backward(dOutput, cache: cache.backbone)
    }
}
