import FileFormats
import Foundation
import Layers
import Tensors
import WorkerPool

/// Adam (Kingma & Ba 2015) with bias correction; optional decoupled weight decay (AdamW,
/// Loshchilov & Hutter 2019), off by default.
///
///     m = beta1 m + (1 - beta1) g
///     v = beta2 v + (1 - beta2) g^2
///     p -= learningRate * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
///     p -= learningRate * weightDecay * p          (only with weightDecay > 0)
public final class Adam {
    /// Step size.
    public var learningRate: Float
    /// Decay of the first-moment (mean) estimate; DCGAN uses 0.5.
    public var beta1: Float
    /// Decay of the second-moment (uncentred variance) estimate.
    public var beta2: Float
    /// Added to the denominator for stability.
    public var epsilon: Float
    /// Decoupled weight decay per step, as a fraction of the learning rate; 0 disables it.
    public var weightDecay: Float
    /// Steps taken, for the bias correction.
    public private(set) var step = 0

    let parameters: [Parameter]
    var firstMoments: [[Float]]
    var secondMoments: [[Float]]

    public init(parameters: [Parameter], learningRate: Float = 2e-4, beta1: Float = 0.5, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        firstMoments = parameters.map { [Float](repeating: 0, count: $0.value.count) }
        secondMoments = firstMoments
    }

    /// Applies one update from the parameters' accumulated gradients (which it leaves as they
    /// are). A large parameter is shared among the workers; the loops are vectorised.
    public func update() {
        step += 1
        let correction1 = 1 - pow(beta1, Float(step)), correction2 = 1 - pow(beta2, Float(step))
        // p -= lr (m / c1) / (sqrt(v / c2) + eps), the divisions by c1 and c2 taken out.
        let (stepSize, inverseCorrection2) = (learningRate / correction1, 1 / correction2)
        let (beta1, beta2, epsilon, decay) = (self.beta1, self.beta2, self.epsilon, learningRate * weightDecay)
        for (index, parameter) in parameters.enumerated() {
            parameter.gradient.values.withUnsafeBufferPointer { gradient in
                firstMoments[index].withUnsafeMutableBufferPointer { m in
                    secondMoments[index].withUnsafeMutableBufferPointer { v in
                        parameter.value.values.withUnsafeMutableBufferPointer { p in
                            let (g, m, v, p) = (gradient.baseAddress!, m.baseAddress!, v.baseAddress!, p.baseAddress!)
                            let update = { (share: Range<Int>) in
                                for i in share {
                                    m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                                    v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                                    p[i] -= stepSize * m[i] / ((v[i] * inverseCorrection2).squareRoot() + epsilon)
                                }
                                if decay > 0 { for i in share { p[i] -= decay * p[i] } }
                            }
                            let count = gradient.count
                            if count < Workers.elementwiseThreshold { update(0..<count) } else { Workers.run(over: count) { update($1) } }
                        }
                    }
                }
            }
        }
    }

    /// The optimizer's state as named tensors (for checkpoints): each parameter's two
    /// moments as "NAME.exp_avg" / "NAME.exp_avg_sq" (PyTorch's words), and the step.
    public func state(names: [String]) -> [NamedTensor] {
        precondition(names.count == parameters.count)
        var tensors = [NamedTensor(name: "step", shape: [], values: [Float(step)])]
        for (index, name) in names.enumerated() {
            let shape = parameters[index].value.shape
            tensors.append(NamedTensor(name: name + ".exp_avg", shape: shape, values: firstMoments[index]))
            tensors.append(NamedTensor(name: name + ".exp_avg_sq", shape: shape, values: secondMoments[index]))
        }
        return tensors
    }

    /// Restores what `state(names:)` produced; throws on a missing or mis-shaped tensor.
    public func restore(_ tensors: [String: NamedTensor], names: [String]) throws {
        guard let stepTensor = tensors["step"], stepTensor.values.count == 1, stepTensor.values[0] >= 0 else {
            throw OptimizerStateError.missing("step")
        }
        var first = firstMoments, second = secondMoments
        for (index, name) in names.enumerated() {
            let shape = parameters[index].value.shape
            for (suffix, target) in [(".exp_avg", 0), (".exp_avg_sq", 1)] {
                guard let tensor = tensors[name + suffix] else { throw OptimizerStateError.missing(name + suffix) }
                guard tensor.shape == shape else {
                    throw OptimizerStateError.shape(name + suffix, found: tensor.shape, expected: shape)
                }
                if target == 0 { first[index] = tensor.values } else { second[index] = tensor.values }
            }
        }
        firstMoments = first
        secondMoments = second
        step = Int(stepTensor.values[0])
    }
}

/// Plain stochastic gradient descent, with optional momentum: v = momentum v + g; p -= lr v.
public final class SGD {
    public var learningRate: Float
    public var momentum: Float
    let parameters: [Parameter]
    var velocities: [[Float]]

    public init(parameters: [Parameter], learningRate: Float, momentum: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        velocities = parameters.map { [Float](repeating: 0, count: $0.value.count) }
    }

    public func update() {
        for (index, parameter) in parameters.enumerated() {
            for i in 0..<parameter.value.count {
                velocities[index][i] = momentum * velocities[index][i] + parameter.gradient.values[i]
                parameter.value.values[i] -= learningRate * velocities[index][i]
            }
        }
    }
}

public enum OptimizerStateError: Error, CustomStringConvertible, Equatable {
    case missing(String)
    case shape(String, found: [Int], expected: [Int])

    public var description: String {
        switch self {
        case .missing(let name): return "optimizer state has no '\(name)'"
        case .shape(let name, let found, let expected):
            return "optimizer state '\(name)' has shape \(found), the model's parameter has \(expected)"
        }
    }
}
