import ArgumentParser
import Evaluation
import FileFormats
import Foundation
import Tensors
import Training

/// `melforge steer`: reward-guided generation. A Gaussian policy over a trained generator's
/// latent space, trained with REINFORCE, makes the generator favour what a reward likes.
struct SteerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steer",
        abstract: "Steer a trained generator toward a reward (REINFORCE over a Gaussian latent policy).",
        discussion: """
            The generator stays as it is; a policy N(mu, diag(sigma^2)) over its latent space, \
            starting as the generator's own prior N(0, I), learns to draw latents whose images \
            earn more reward. Each step draws --batch-size latents, scores the generated \
            spectrograms (or images) and moves the policy toward the better ones (REINFORCE \
            with a moving-average baseline, Adam), with a --kl-weight pull back to the prior \
            that keeps variety. Rewards are judged on the images, without vocoding: \
            \(Reward.help).

            POLICY (safetensors) holds the policy and its optimizer state, saved atomically \
            every --save-every steps; --resume continues a killed run. Beside it go \
            POLICY.log.jsonl (reward mean and best, entropy, KL per step) and POLICY.svg (the \
            reward curve). At the end, --eval-count samples before and after steering are \
            compared. 'melforge synthesize --checkpoint C --policy POLICY' samples from it.
            """)

    @Option(help: "The generator: a run folder or checkpoint file (an unconditional GAN or VAE).")
    var checkpoint: String

    @Option(help: ArgumentHelp("What to maximise: \(Reward.help).", valueName: "kind:target"))
    var reward: String

    @Option(help: "A classifier from 'melforge classifier train' (for --reward label:NAME).")
    var classifier: String?

    @Option(name: .shortAndLong, help: "The policy file to write (.safetensors).")
    var output: String

    @Option(help: "Policy updates.")
    var steps = 300

    @Option(help: "Latents drawn per update.")
    var batchSize = 64

    @Option(help: "Adam's learning rate for the policy's mean and log standard deviation.")
    var lr: Float = 0.05

    @Option(help: "Weight of KL(policy || prior) in the loss: higher keeps more variety, lower follows the reward harder.")
    var klWeight: Float = 0.02

    @Option(help: "Seed of the latents drawn.")
    var seed: UInt64 = 0

    @Option(help: "Save the policy, the log and the curve every this many steps.")
    var saveEvery = 20

    @Option(help: "Samples drawn before and after steering to compare them.")
    var evalCount = 512

    @Flag(help: "Continue the run in --output from its last save.")
    var resume = false

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps \(steps) is not accepted; expected 1 or more") }
        guard batchSize >= 2 else { throw ValidationError("--batch-size \(batchSize) is not accepted; expected 2 or more") }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr \(lr) is not accepted; expected a positive number") }
        guard klWeight >= 0 && klWeight.isFinite else {
            throw ValidationError("--kl-weight \(klWeight) is not accepted; expected 0 or more")
        }
        guard saveEvery >= 1 else { throw ValidationError("--save-every \(saveEvery) is not accepted; expected 1 or more") }
        guard evalCount >= 2 else { throw ValidationError("--eval-count \(evalCount) is not accepted; expected 2 or more") }
    }

    func run() throws {
        let modelPath = checkpointPath(checkpoint)
        let model = try TrainedModel(checkpoint: modelPath)
        guard model.configuration.classes == nil else {
            throw CommandError("'\(checkpoint)' is a conditional model: it draws a class when asked ('melforge synthesize --label NAME'); steer works on unconditional generators")
        }
        let judge = try classifier.map { try Judge(path: $0) }
        let reward = try Reward(reward, judge: judge, model: model, modelPath: modelPath)

        let steering = Steering(policy: LatentPolicy(latentSize: model.configuration.latentSize), batchSize: batchSize,
                                learningRate: lr, klWeight: klWeight, seed: seed)
        var log: [String] = []
        let exists = FileManager.default.fileExists(atPath: output)
        if exists && !resume {
            throw CommandError("'\(output)' already exists; pass --resume to continue that run, or choose another -o")
        }
        if resume && exists {
            let file = try SafeTensors.read(output)
            guard file.metadata["format"] == Steering.format else {
                throw InputError(file: output, problem: "is not a MelForge policy; choose another -o")
            }
            guard steeredFor(file.metadata) == model.configuration, file.metadata["reward"] == reward.specification else {
                throw InputError(file: output, problem: "was steered for another generator or reward (\(file.metadata["reward"] ?? "?")); resume it with the same --checkpoint and --reward")
            }
            try steering.restore(from: file, path: output)
            log = readLines(logPath).filter { (stepOf($0) ?? Int.max) <= steering.step }
            print("resuming \(output) at step \(steering.step)")
        }
        var metadata = ["generator": modelPath, "generator_training": String(decoding: try JSONEncoder().encode(model.configuration), as: UTF8.self),
                        "generator_step": model.metadata["step"] ?? "", "reward": reward.specification]
        if let classifier { metadata["classifier"] = classifier }

        let before = try assess(model: model, modelPath: modelPath, policy: LatentPolicy(latentSize: model.configuration.latentSize),
                                reward: reward)
        let progress = ProgressBar(total: steps, label: "steer", unit: "steps")
        while steering.step < steps {
            let report = try steering.step { latents in
                try reward(model.images(latents: latents), model: model, modelPath: modelPath)
            }
            progress.update(report.step, note: String(format: "reward mean %.3f  best %.3f  entropy %.1f  KL %.2f",
                                                      report.meanReward, report.bestReward, report.entropy, report.divergence))
            log.append(String(format: "{\"step\": %d, \"reward_mean\": %.6g, \"reward_best\": %.6g, \"entropy\": %.6g, \"kl\": %.6g}",
                              report.step, report.meanReward, report.bestReward, report.entropy, report.divergence))
            if !report.meanReward.isFinite {
                progress.finish()
                throw CommandError("the reward is \(report.meanReward) at step \(report.step); stopped (the last good policy is in '\(output)' if one was saved)")
            }
            if report.step % saveEvery == 0 || report.step == steps {
                try save(steering, metadata: metadata, log: log)
            }
        }
        progress.finish()
        let after = try assess(model: model, modelPath: modelPath, policy: steering.policy, reward: reward)
        metadata["before"] = before.json
        metadata["after"] = after.json
        try save(steering, metadata: metadata, log: log)
        print(Assessment.table(before: before, after: after, reward: reward))
        print("\(output): policy after \(steering.step) steps; \(logPath) and \(curvePath) beside it")
    }

    var stem: String { output.hasSuffix(".safetensors") ? String(output.dropLast(".safetensors".count)) : output }
    var logPath: String { stem + ".log.jsonl" }
    var curvePath: String { stem + ".svg" }

    func save(_ steering: Steering, metadata: [String: String], log: [String]) throws {
        try steering.save(to: output, metadata: metadata)
        try AtomicFile.write(Array((log.joined(separator: "\n") + "\n").utf8), to: logPath)
        try LossCurve.write(log: log, to: curvePath, only: ["reward_mean", "reward_best"])
    }

    /// --eval-count samples from `policy`, judged: mean reward, the target label's share, the
    /// acoustic measure, and |D|self (in the classifier's input space for a label reward, else
    /// in the generator's image space).
    func assess(model: TrainedModel, modelPath: String, policy: LatentPolicy, reward: Reward) throws -> Assessment {
        var random = RandomNumbers(seed: seed &+ 0xE7A1)
        let (latents, _) = policy.sample(count: evalCount, random: &random)
        var images: [Float] = []
        var rewards: [Float] = []
        var measures: [Double] = []
        let z = model.configuration.latentSize
        for start in stride(from: 0, to: evalCount, by: 64) {
            let end = min(evalCount, start + 64)
            let batch = model.images(latents: Tensor(shape: [end - start, z], values: Array(latents.values[(start * z)..<(end * z)])))
            let judged = try reward.judged(batch, model: model, modelPath: modelPath)
            rewards += judged.rewards
            measures += judged.measures ?? []
            if case .label(_, _, let judge) = reward.kind {
                images += try judge.input(fromModel: batch, of: model, modelPath: modelPath).values
            } else {
                images += batch.values
            }
        }
        let d = images.count / evalCount
        var assessment = Assessment(
            meanReward: average(rewards),
            dSelf: average(nearestNeighbourDistances(images, images, dimension: d, excludingSelf: true)),
            entropy: policy.entropy)
        if case .label(let index, _, let judge) = reward.kind {
            let c = model.configuration
            let set = Tensor(shape: [evalCount, c.channels, c.imageSize, c.imageSize], values: images)
            assessment.targetFraction = judge.fraction(of: index, in: set)
        }
        if !measures.isEmpty { assessment.meanMeasure = measures.reduce(0, +) / Double(measures.count) }
        return assessment
    }

    func readLines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func stepOf(_ line: String) -> Int? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["step"] as? Int
    }
}

/// The configuration of the generator a policy's metadata says it was steered for.
func steeredFor(_ metadata: [String: String]) -> TrainingConfiguration? {
    metadata["generator_training"].flatMap { try? JSONDecoder().decode(TrainingConfiguration.self, from: Data($0.utf8)) }
}

/// Samples of a policy, judged.
struct Assessment: Encodable {
    var meanReward: Double
    var dSelf: Double
    var entropy: Double
    var targetFraction: Double? = nil
    var meanMeasure: Double? = nil

    var json: String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func table(before: Assessment, after: Assessment, reward: Reward) -> String {
        func row(_ name: String, _ a: String, _ b: String) -> String {
            name.padding(toLength: 28, withPad: " ", startingAt: 0) + String(repeating: " ", count: max(0, 12 - a.count)) + a
                + String(repeating: " ", count: max(0, 12 - b.count)) + b
        }
        var lines = [row("", "before", "after"),
                     row("mean reward", String(format: "%.3f", before.meanReward), String(format: "%.3f", after.meanReward))]
        if case .label(_, let name, _) = reward.kind, let a = before.targetFraction, let b = after.targetFraction {
            lines.append(row("labelled '\(name)'", String(format: "%.1f%%", 100 * a), String(format: "%.1f%%", 100 * b)))
        }
        if let a = before.meanMeasure, let b = after.meanMeasure {
            let unit = if case .loudness = reward.kind { "level (dBFS)" } else { "centroid (Hz)" }
            lines.append(row("mean " + unit, String(format: "%.1f", a), String(format: "%.1f", b)))
        }
        lines.append(row("|D|self", String(format: "%.3f", before.dSelf), String(format: "%.3f", after.dSelf)))
        lines.append(row("policy entropy (nats)", String(format: "%.1f", before.entropy), String(format: "%.1f", after.entropy)))
        return lines.joined(separator: "\n")
    }
}
