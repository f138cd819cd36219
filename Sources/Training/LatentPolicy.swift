import FileFormats
import Foundation
import Layers
import Optimizers
import Tensors

/// A diagonal Gaussian over a generator's latent space, pi(z) = N(mu, diag(sigma^2)): the
/// policy that reward-guided generation trains. It starts as the generator's own prior
/// N(0, I), so before any step it samples exactly what the generator does.
public final class LatentPolicy: Module {
    public let mean: Parameter
    /// log sigma, per dimension.
    public let logStd: Parameter

    public init(latentSize: Int) {
        mean = Parameter("mean", Tensor.zeros([latentSize]))
        logStd = Parameter("log_std", Tensor.zeros([latentSize]))
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("mean", mean), ("log_std", logStd)] }

    public var latentSize: Int { mean.value.count }

    /// `count` latents z = mu + sigma eps and the noise eps `[count, Z]` that made them. With a
    /// truncation T, each eps value is redrawn while |eps| > T (as synthesis truncates the prior).
    public func sample(count: Int, truncation: Float? = nil, random: inout RandomNumbers) -> (latents: Tensor, noise: Tensor) {
        var noise = random.normal([count, latentSize])
        if let truncation {
            for i in noise.values.indices { while abs(noise.values[i]) > truncation { noise.values[i] = random.normal() } }
        }
        var z = noise
        let d = latentSize
        for i in z.values.indices { z.values[i] = mean.value.values[i % d] + exp(logStd.value.values[i % d]) * noise.values[i] }
        return (z, noise)
    }

    /// Differential entropy in nats: sum(log sigma) + Z/2 log(2 pi e); the prior's is 141.9 for Z = 100.
    public var entropy: Double {
        logStd.value.values.reduce(0.0) { $0 + Double($1) } + Double(latentSize) / 2 * log(2 * Double.pi * M_E)
    }

    /// KL(pi || N(0, I)) in nats: sum (sigma^2 + mu^2 - 1) / 2 - log sigma.
    public var divergenceFromPrior: Double {
        zip(mean.value.values, logStd.value.values).reduce(0.0) { total, pair in
            let (m, l) = (Double(pair.0), Double(pair.1))
            return total + (exp(2 * l) + m * m - 1) / 2 - l
        }
    }

    /// Accumulates the gradient of the REINFORCE loss -mean_n(A_n log pi(z_n)) (Williams 1992),
    /// whose descent raises the expected reward, plus `klWeight` x KL(pi || prior). For
    /// z = mu + sigma eps: d log pi / d mu = eps / sigma and d log pi / d log sigma = eps^2 - 1.
    public func accumulateGradients(noise: Tensor, advantages: [Float], klWeight: Float) {
        let (n, d) = (noise.shape[0], latentSize)
        precondition(advantages.count == n, "LatentPolicy: \(advantages.count) advantages for \(n) samples")
        for row in 0..<n {
            let a = advantages[row] / Float(n)
            for j in 0..<d {
                let eps = noise.values[row * d + j]
                mean.gradient.values[j] -= a * eps / exp(logStd.value.values[j])
                logStd.gradient.values[j] -= a * (eps * eps - 1)
            }
        }
        for j in 0..<d {
            mean.gradient.values[j] += klWeight * mean.value.values[j]
            logStd.gradient.values[j] += klWeight * (exp(2 * logStd.value.values[j]) - 1)
        }
    }
}

/// Reward-guided generation: REINFORCE with a baseline over a `LatentPolicy`. Each step draws
/// a batch of latents, asks `reward` for one number per latent (what the generator makes of
/// it, judged), and moves the policy toward the better ones; the baseline is an exponential
/// moving average of the batch means. Adam's step does not depend on the gradient's scale, so
/// one learning rate suits any reward's scale; once every sample earns the same reward the
/// gradient vanishes and the policy stops moving.
public final class Steering {
    public let policy: LatentPolicy
    public let optimizer: Adam
    public let batchSize: Int
    /// Weight of KL(pi || prior) in the loss: keeps the policy near the generator's prior, and
    /// with it the variety of what the generator makes.
    public let klWeight: Float
    public private(set) var step = 0
    public private(set) var baseline: Float?
    var random: RandomNumbers

    public init(policy: LatentPolicy, batchSize: Int = 64, learningRate: Float = 0.05, klWeight: Float = 0.1, seed: UInt64 = 0) {
        self.policy = policy
        self.batchSize = batchSize
        self.klWeight = klWeight
        optimizer = Adam(parameters: policy.parameters, learningRate: learningRate, beta1: 0.9)
        random = RandomNumbers(seed: seed)
    }

    public struct Report: Sendable {
        public var step: Int
        public var meanReward: Float
        public var bestReward: Float
        public var entropy: Double
        public var divergence: Double
    }

    /// One update; `reward` maps latents `[batch, Z]` to one reward per row.
    public func step(reward: (Tensor) throws -> [Float]) rethrows -> Report {
        let (latents, noise) = policy.sample(count: batchSize, random: &random)
        let rewards = try reward(latents)
        precondition(rewards.count == batchSize, "Steering: \(rewards.count) rewards for \(batchSize) latents")
        let batchMean = rewards.reduce(0, +) / Float(batchSize)
        let reference = baseline ?? batchMean
        let advantages = rewards.map { $0 - reference }
        baseline = 0.9 * reference + 0.1 * batchMean
        policy.zeroGradients()
        policy.accumulateGradients(noise: noise, advantages: advantages, klWeight: klWeight)
        optimizer.update()
        step += 1
        return Report(step: step, meanReward: batchMean, bestReward: rewards.max() ?? batchMean, entropy: policy.entropy,
                      divergence: policy.divergenceFromPrior)
    }

    // MARK: Files

    public static let format = "melforge-policy/1"

    /// Writes the policy, Adam's state, the step, the baseline, the random state and `metadata`
    /// atomically (a killed run resumes from it).
    public func save(to path: String, metadata extra: [String: String]) throws {
        var metadata = extra.merging(RunState.metadata("step", step, random: random)) { $1 }
        metadata["format"] = Self.format
        metadata["baseline"] = baseline.map { String($0) } ?? ""
        metadata["kl_weight"] = String(klWeight)
        try Checkpoint.save([("policy", policy)], extra: RunState.optimizerTensors(optimizer, of: policy, prefix: "optimizer"),
                            metadata: metadata, to: path)
    }

    /// Continues a run saved by `save` (its policy, optimizer, step, baseline and random state).
    public func restore(from file: SafeTensors, path: String) throws {
        let (saved, restored) = try RunState.counter("step", from: file, path: path)
        try Checkpoint.restore(policy, prefix: "policy", from: file, path: path)
        try RunState.restoreOptimizer(optimizer, of: policy, prefix: "optimizer", from: file, path: path)
        step = saved
        baseline = file.metadata["baseline"].flatMap { Float($0) }
        random = restored
    }

    /// A policy from its file (for sampling); not a policy file: a clear error naming it.
    public static func loadPolicy(_ path: String) throws -> (policy: LatentPolicy, metadata: [String: String]) {
        let file = try SafeTensors.read(path)
        guard file.metadata["format"] == format,
              let mean = file.tensors.first(where: { $0.name == "policy.mean" }), mean.shape.count == 1
        else {
            throw CheckpointError.missingTensor(path: path, name: "policy.mean (not a MelForge policy; make one with 'melforge steer')")
        }
        let policy = LatentPolicy(latentSize: mean.shape[0])
        try Checkpoint.restore(policy, prefix: "policy", from: file, path: path)
        return (policy, file.metadata)
    }
}
