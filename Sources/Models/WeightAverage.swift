import Layers

/// An exponential moving average of a module's weights (Karras et al. 2018): after each update
/// of `source`, every parameter of `average` (a module of the same architecture) becomes
/// decay x itself + (1 - decay) x the source's, and its buffers (BatchNorm's running
/// statistics) the source's. A GAN samples from the average: it moves less from step to step
/// than the generator the discriminator is chasing.
///
/// With `rampUp` the decay at update n (counted from 1) is min(decay, (1 + n) / (10 + n)): the
/// average spans at most about a tenth of the steps so far, so that a short run's samples are
/// not mostly its random initial weights (0.999^300 = 0.74 of them after 300 steps without).
public final class WeightAverage {
    public let decay: Float
    public let rampUp: Bool
    public let average: Module
    let source: Module

    /// Starts `average` at `source`'s weights.
    public init(of source: Module, into average: Module, decay: Float, rampUp: Bool = false) {
        precondition(decay >= 0 && decay < 1, "WeightAverage: decay \(decay); expected [0, 1)")
        precondition(source.namedParameters.map(\.name) == average.namedParameters.map(\.name),
                     "WeightAverage: the average is not the source's architecture")
        (self.source, self.average, self.decay, self.rampUp) = (source, average, decay, rampUp)
        for (target, parameter) in zip(average.namedParameters + average.namedBuffers, source.namedParameters + source.namedBuffers) {
            target.parameter.value = parameter.parameter.value
        }
    }

    /// The decay of update `step` (counted from 1).
    public func decay(atStep step: Int) -> Float {
        rampUp ? min(decay, Float(1 + step) / Float(10 + step)) : decay
    }

    /// One step of the average, after update `step` (counted from 1) of the source.
    public func update(step: Int) {
        let keep = decay(atStep: step), take = 1 - keep
        for (target, parameter) in zip(average.parameters, source.parameters) {
            var values = target.value
            parameter.value.values.withUnsafeBufferPointer { s in
                values.values.withUnsafeMutableBufferPointer { t in
                    for i in t.indices { t[i] = keep * t[i] + take * s[i] }
                }
            }
            target.value = values
        }
        for (target, buffer) in zip(average.namedBuffers, source.namedBuffers) { target.parameter.value = buffer.parameter.value }
    }
}
