import Foundation
import Layers
import Spectral
import Tensors
import WorkerPool

// Dimension letters: B segments (sounds), L samples per sound, P a period, K STFT bins,
// F frames, C channels.

/// The adversarial part of a learned vocoder's training (stored in its configuration; nil:
/// none): the discriminators' shapes, their loss and learning rate, and how much their terms
/// count in the vocoder's loss.
///
/// As HiFi-GAN (Kong et al. 2020) and Vocos (Siuzdak 2023) train: a multi-period
/// discriminator on the waveform (periods 2, 3, 5, 7, 11) and a multi-resolution one on
/// magnitude spectrograms (three FFT sizes), hinge or least-squares loss, feature matching
/// (weight 2), and the mel L1 kept beside them at weight 45 (`LossWeights.mel`, set by the
/// request). The channel counts are scaled down from HiFi-GAN's (32 to 1024) to what trains
/// on 2 cores.
public struct AdversarialConfiguration: Codable, Equatable, Sendable {
    public enum Loss: String, Codable, CaseIterable, Sendable {
        /// D: mean relu(1 - D(real)) + mean relu(1 + D(made)); G: mean -D(made).
        case hinge
        /// D: mean (1 - D(real))^2 + mean D(made)^2; G: mean (1 - D(made))^2.
        case leastSquares = "least-squares"
    }

    public var periods = [2, 3, 5, 7, 11]
    /// Each period discriminator's hidden layers' channels (the last at stride 1, the others 3).
    public var periodChannels = [16, 32, 64, 64]
    /// The spectrogram discriminators' FFT sizes (hop a quarter of each).
    public var resolutions: [Int]
    /// Channels of each spectrogram discriminator's hidden layers.
    public var resolutionChannels = 16
    public var loss = Loss.hinge
    /// Adam's learning rate for the discriminators (betas 0.8, 0.99 as the vocoder's).
    public var learningRate: Float = 2e-4
    /// Weight of the vocoder's adversarial term (the sum over the discriminators).
    public var adversarialWeight: Float = 1
    /// Weight of feature matching (the sum over the discriminators of the mean L1 between
    /// their layers' outputs on real and made sound).
    public var featureWeight: Float = 2

    /// Resolutions at half, once and twice the front end's FFT size.
    public init(nFFT: Int) { resolutions = [max(16, nFFT / 2), nFFT, 2 * nFFT] }
}

/// The slope of the discriminators' LeakyReLU (HiFi-GAN's 0.1).
let discriminatorSlope: Float = 0.1

/// One period of the multi-period discriminator: a sound of L samples, cut into rows of P
/// samples (the end padded with zeros), is P interleaved sequences of L / P samples; each
/// is read by the same stack of strided 1-D convolutions (kernel 5; HiFi-GAN's (5, 1)
/// two-dimensional kernels are exactly this: they never mix columns), LeakyReLU between
/// them, and a last convolution (kernel 3) to one logit per step.
final class PeriodDiscriminator: Module {
    let period: Int
    let layers: [Conv1D]

    init(period: Int, channels: [Int], random: inout RandomNumbers) {
        self.period = period
        var made: [Conv1D] = []
        var inputs = 1
        for (index, outputs) in channels.enumerated() {
            made.append(Conv1D(inputChannels: inputs, outputChannels: outputs, kernelSize: 5,
                               stride: index < channels.count - 1 ? 3 : 1, padding: 2, random: &random))
            inputs = outputs
        }
        made.append(Conv1D(inputChannels: inputs, outputChannels: 1, kernelSize: 3, stride: 1, padding: 1, random: &random))
        layers = made
    }

    var namedParameters: [(name: String, parameter: Parameter)] {
        layers.enumerated().flatMap { prefixed("layers.\($0.offset)", $0.element.namedParameters) }
    }

    /// A forward pass: each layer's output (after its activation; the last is the logits,
    /// `[B P, steps, 1]`), what the backward needs, and the sounds' shape.
    struct Pass {
        var features: [Tensor]
        var caches: [Conv1D.Cache]
        var beforeActivation: [Tensor]
        let batch: Int, samples: Int
    }

    /// Sounds `[B, L]` -> the pass.
    func forward(_ sounds: Tensor) -> Pass {
        let (b, l, p) = (sounds.shape[0], sounds.shape[1], period)
        let rows = (l + p - 1) / p
        // x[(n P + j), t] = sound[n, t P + j]
        var x = Tensor.zeros([b * p, rows, 1])
        for n in 0..<b { for t in 0..<rows { for j in 0..<p where t * p + j < l {
            x.values[(n * p + j) * rows + t] = sounds.values[n * l + t * p + j]
        } } }
        var pass = Pass(features: [], caches: [], beforeActivation: [], batch: b, samples: l)
        var h = x
        for (index, layer) in layers.enumerated() {
            let (y, cache) = layer.forward(h)
            pass.caches.append(cache)
            if index < layers.count - 1 {
                pass.beforeActivation.append(y)
                h = Activation.leakyReLU(y, slope: discriminatorSlope).output
            } else {
                h = y
            }
            pass.features.append(h)
        }
        return pass
    }

    /// From dL/d(each layer's output) (nil: none), accumulates the weights' gradients when
    /// `parameterGradients`; returns dL/dsounds `[B, L]` when `inputGradient`.
    func backward(_ dFeatures: [Tensor?], pass: Pass, parameterGradients: Bool, inputGradient: Bool) -> Tensor? {
        var d: Tensor? = nil
        for index in layers.indices.reversed() {
            var g = dFeatures[index] ?? Tensor.zeros(pass.features[index].shape)
            if let d { g.add(d) }
            if index < layers.count - 1 {
                g = Activation.leakyReLUBackward(g, cache: pass.beforeActivation[index], slope: discriminatorSlope)
            }
            if index == 0 && !inputGradient {
                if parameterGradients { _ = layers[0].backward(g, cache: pass.caches[0], parameterGradients: true) }
                return nil
            }
            d = layers[index].backward(g, cache: pass.caches[index], parameterGradients: parameterGradients)
        }
        guard let dx = d else { return nil }
        let (b, l, p) = (pass.batch, pass.samples, period)
        let rows = (l + p - 1) / p
        var out = Tensor.zeros([b, l])
        for n in 0..<b { for t in 0..<rows { for j in 0..<p where t * p + j < l {
            out.values[n * l + t * p + j] = dx.values[(n * p + j) * rows + t]
        } } }
        return out
    }
}

/// One resolution of the multi-resolution discriminator: the magnitude of the sound's STFT
/// (`[B, 1, K, F]`, bins by frames) read by 2-D convolutions (the core's `Conv2D`, kernel 3:
/// four at stride 2, one at stride 1, LeakyReLU after each) and a last convolution to one
/// logit per place.
final class ResolutionDiscriminator: Module {
    let stft: STFT
    let layers: [Conv2D]

    init(nFFT: Int, channels: Int, random: inout RandomNumbers) throws {
        stft = try STFT(nFFT: nFFT, hopLength: max(1, nFFT / 4))
        var made: [Conv2D] = []
        for (index, stride) in [2, 2, 2, 2, 1].enumerated() {
            made.append(Conv2D(inputChannels: index == 0 ? 1 : channels, outputChannels: channels, kernelSize: 3, stride: stride,
                               padding: 1, random: &random))
        }
        made.append(Conv2D(inputChannels: channels, outputChannels: 1, kernelSize: 3, stride: 1, padding: 1, random: &random))
        layers = made
    }

    var namedParameters: [(name: String, parameter: Parameter)] {
        layers.enumerated().flatMap { prefixed("layers.\($0.offset)", $0.element.namedParameters) }
    }

    struct Pass {
        var features: [Tensor]
        var caches: [Conv2D.Cache]
        let spectra: [ComplexSpectrogram]
        let samples: Int
    }

    /// Sounds `[B, L]` -> the pass.
    func forward(_ sounds: Tensor) throws -> Pass {
        let (b, l) = (sounds.shape[0], sounds.shape[1])
        let stft = self.stft
        let spectra = try Workers.each(b) { n in try stft.transform(Array(sounds.values[(n * l)..<((n + 1) * l)])) }
        let (k, f) = (spectra[0].bins, spectra[0].frames)
        var x = Tensor.zeros([b, 1, k, f])
        for (n, spectrum) in spectra.enumerated() {
            x.values.replaceSubrange((n * k * f)..<((n + 1) * k * f), with: spectrum.magnitude().values)
        }
        var pass = Pass(features: [], caches: [], spectra: spectra, samples: l)
        var h = x
        for (index, layer) in layers.enumerated() {
            let (y, cache) = layer.forward(h, activation: index < layers.count - 1 ? .leakyReLU(slope: discriminatorSlope) : nil)
            pass.caches.append(cache)
            pass.features.append(y)
            h = y
        }
        return pass
    }

    /// As `PeriodDiscriminator.backward`: through the layers, then the magnitude and the STFT.
    func backward(_ dFeatures: [Tensor?], pass: Pass, parameterGradients: Bool, inputGradient: Bool) throws -> Tensor? {
        var d: Tensor? = nil
        for index in layers.indices.reversed() {
            var g = dFeatures[index] ?? Tensor.zeros(pass.features[index].shape)
            if let d { g.add(d) }
            d = layers[index].backward(g, cache: pass.caches[index], parameterGradients: parameterGradients,
                                       inputGradient: index > 0 || inputGradient)
        }
        guard inputGradient, let dMagnitude = d else { return nil }
        let (b, l) = (pass.spectra.count, pass.samples)
        let (k, f) = (pass.spectra[0].bins, pass.spectra[0].frames)
        let (stft, spectra) = (self.stft, pass.spectra)
        let rows = try Workers.each(b) { n -> [Float] in
            let dSpectrum = VocoderLoss.throughMagnitude(Array(dMagnitude.values[(n * k * f)..<((n + 1) * k * f)]), of: spectra[n])
            return stft.transformAdjoint(dSpectrum, samples: l)
        }
        return Tensor(shape: [b, l], values: rows.flatMap { $0 })
    }
}

/// Every discriminator of an adversarial vocoder, and one step of their game.
public final class Discriminators: Module {
    public let configuration: AdversarialConfiguration
    let periods: [PeriodDiscriminator]
    let resolutions: [ResolutionDiscriminator]

    public init(_ configuration: AdversarialConfiguration, random: inout RandomNumbers) throws {
        self.configuration = configuration
        periods = configuration.periods.map { PeriodDiscriminator(period: $0, channels: configuration.periodChannels, random: &random) }
        resolutions = try configuration.resolutions.map {
            try ResolutionDiscriminator(nFFT: $0, channels: configuration.resolutionChannels, random: &random)
        }
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        periods.flatMap { prefixed("period\($0.period)", $0.namedParameters) }
            + resolutions.flatMap { prefixed("resolution\($0.stft.nFFT)", $0.namedParameters) }
    }

    /// One step of the game on `made` and `real` sounds `[B, L]` (the vocoder's and the
    /// clips'), each segment weighing `weight` (1 / batch: a data-parallel process's rows
    /// weigh rows / batch): the discriminators' gradients of their loss are accumulated into
    /// their parameters, and the gradient of the vocoder's adversarial and feature-matching
    /// terms (times their weights in the configuration) with respect to `made` is returned,
    /// segment by segment (not yet times `weight`: the vocoder's trainer weighs it with its
    /// other losses). The terms: "disc" (the discriminators' loss), "adv" and "fm" (the
    /// vocoder's), each the rows' weighted sum.
    ///
    /// Both players see the discriminators as they are before this step (a simultaneous
    /// update, so one forward pass per sound serves both). The discriminators run side by
    /// side on the workers (each has its own weights); their gradients on the sound and their
    /// terms are summed after, in a fixed order.
    public func step(made: Tensor, real: Tensor, weight: Float) throws -> (terms: [String: Float], dMade: Tensor) {
        precondition(made.shape == real.shape && made.rank == 2, "Discriminators.step: \(made.shape) vs \(real.shape)")
        let (c, b) = (configuration, made.shape[0])
        let (periods, resolutions) = (UncheckedSendable(self.periods), UncheckedSendable(self.resolutions))
        let shares = try Workers.each(periods.value.count + resolutions.value.count) { index -> (dMade: Tensor, terms: Terms) in
            if index < periods.value.count {
                let discriminator = periods.value[index]
                let (realPass, madePass) = (discriminator.forward(real), discriminator.forward(made))
                let game = Self.play(real: realPass.features, made: madePass.features, segments: b, weight: weight, configuration: c)
                _ = discriminator.backward(game.dReal, pass: realPass, parameterGradients: true, inputGradient: false)
                _ = discriminator.backward(game.dMadeForD, pass: madePass, parameterGradients: true, inputGradient: false)
                return (discriminator.backward(game.dMadeForG, pass: madePass, parameterGradients: false, inputGradient: true)!, game.terms)
            }
            let discriminator = resolutions.value[index - periods.value.count]
            let (realPass, madePass) = (try discriminator.forward(real), try discriminator.forward(made))
            let game = Self.play(real: realPass.features, made: madePass.features, segments: b, weight: weight, configuration: c)
            _ = try discriminator.backward(game.dReal, pass: realPass, parameterGradients: true, inputGradient: false)
            _ = try discriminator.backward(game.dMadeForD, pass: madePass, parameterGradients: true, inputGradient: false)
            return (try discriminator.backward(game.dMadeForG, pass: madePass, parameterGradients: false, inputGradient: true)!,
                    game.terms)
        }
        var dMade = Tensor.zeros(made.shape)
        var terms = Terms()
        for share in shares {
            dMade.add(share.dMade)
            (terms.disc, terms.adv, terms.fm) = (terms.disc + share.terms.disc, terms.adv + share.terms.adv, terms.fm + share.terms.fm)
        }
        return (["disc": Float(terms.disc), "adv": Float(terms.adv), "fm": Float(terms.fm)], dMade)
    }

    /// One discriminator's terms (weighted sums over the rows).
    struct Terms: Sendable { var disc = 0.0, adv = 0.0, fm = 0.0 }

    /// The losses of one discriminator's outputs on real and made sound (each layer's, the
    /// last the logits) and their gradients: the discriminator's on both passes (weighted),
    /// the vocoder's on the made one (per segment, times the configuration's weights).
    static func play(real realFeatures: [Tensor], made madeFeatures: [Tensor], segments b: Int, weight: Float,
                     configuration c: AdversarialConfiguration)
        -> (dReal: [Tensor?], dMadeForD: [Tensor?], dMadeForG: [Tensor?], terms: Terms)
    {
        let layers = realFeatures.count
        let (r, m) = (realFeatures[layers - 1], madeFeatures[layers - 1])
        let per = r.count / b   // logits per segment
        var dR = Tensor.zeros(r.shape), dMD = Tensor.zeros(m.shape), dMG = Tensor.zeros(m.shape)
        let (scale, own) = (weight / Float(per), 1 / Float(per))
        var (discSum, advSum): (Float, Float) = (0, 0)
        let (loss, adversarialWeight) = (c.loss, c.adversarialWeight)
        r.values.withUnsafeBufferPointer { r in m.values.withUnsafeBufferPointer { m in
            dR.values.withUnsafeMutableBufferPointer { dR in dMD.values.withUnsafeMutableBufferPointer { dMD in
                dMG.values.withUnsafeMutableBufferPointer { dMG in
                    for i in 0..<r.count {
                        let (real, made) = (r[i], m[i])
                        switch loss {
                        case .hinge:
                            discSum += max(0, 1 - real) + max(0, 1 + made)
                            dR[i] = 1 - real > 0 ? -scale : 0
                            dMD[i] = 1 + made > 0 ? scale : 0
                            advSum -= made
                            dMG[i] = -own * adversarialWeight
                        case .leastSquares:
                            discSum += (1 - real) * (1 - real) + made * made
                            dR[i] = -2 * (1 - real) * scale
                            dMD[i] = 2 * made * scale
                            advSum += (1 - made) * (1 - made)
                            dMG[i] = -2 * (1 - made) * own * adversarialWeight
                        }
                    }
                }
            } }
        } }
        var terms = Terms(disc: Double(scale * discSum), adv: Double(scale * advSum))
        // Feature matching over every layer's output (the logits too, as HiFi-GAN).
        var dFeatures: [Tensor?] = []
        for layer in 0..<layers {
            let (fr, fmade) = (realFeatures[layer], madeFeatures[layer])
            let perSegment = Float(fr.count / b)
            let step = c.featureWeight / perSegment
            var dF = Tensor.zeros(fmade.shape)
            var total: Float = 0
            fr.values.withUnsafeBufferPointer { fr in fmade.values.withUnsafeBufferPointer { fmade in
                dF.values.withUnsafeMutableBufferPointer { dF in
                    for i in 0..<fr.count {
                        let difference = fmade[i] - fr[i]
                        total += abs(difference)
                        dF[i] = difference > 0 ? step : difference < 0 ? -step : 0
                    }
                }
            } }
            terms.fm += Double(weight / perSegment * total)
            if layer == layers - 1 { dF.add(dMG) }
            dFeatures.append(dF)
        }
        let none = [Tensor?](repeating: nil, count: layers - 1)
        return (none + [dR], none + [dMD], dFeatures, terms)
    }
}

/// A value shared with the workers, which use it on disjoint data (each discriminator its own).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
