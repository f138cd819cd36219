import Layers

/// An exponential moving average of a module's weights (Karras et al. 2018): after each update
/// of `source`, every parameter of `average` (a module of the same architecture) becomes
/// decay x itself + (1 - decay) x the source's, and its buffers (BatchNorm's running
/// statistics) the source's. A GAN samples from the average: it moves less from step to step
/// than the generator the discriminator is chasing.
public final class WeightAverage {
    public let decay: Float
    public let average: Module
    let source: Module

    /// Starts `average` at `source`'s weights.
    public init(of source: Module, into average: Module, decay: Float) {
        precondition(decay >= 0 && decay < 1, "WeightAverage: decay \(decay); expected [0, 1)")
        precondition(source.namedParameters.map(\.name) == average.namedParameters.map(\.name),
                     "WeightAverage: the average is not the source's architecture")
        (self.source, self.average, self.decay) = (source, average, decay)
        for (target, parameter) in zip(average.namedParameters + average.namedBuffers, source.namedParameters + source.namedBuffers) {
            target.parameter.value = parameter.parameter.value
        }
    }

    /// One step of the average, after an update of the source.
    public func update() {
        let keep = decay, take = 1 - decay
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
