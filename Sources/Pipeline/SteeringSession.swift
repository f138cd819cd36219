import Evaluation
import FileFormats
import Foundation
import Tensors
import Training

/// `melforge steer`: a Gaussian latent policy trained with REINFORCE so that a generator
/// favours what `reward` likes, saved (atomically, with its optimizer state) every
/// `saveEvery` steps to `output`, with `output`'s stem + .log.jsonl and + .svg beside it;
/// resumable. Before and after, `evaluationCount` samples are judged.
public final class SteeringSession {
    public let model: TrainedModel
    public let modelPath: String
    public let reward: Reward
    public let steering: Steering
    public let output: String
    var log: RunLog
    var metadata: [String: String]
    public let resumed: Bool

    public struct Settings {
        public var batchSize = 64
        public var learningRate: Float = 0.05
        public var klWeight: Float = 0.02
        public var seed: UInt64 = 0
        public init() {}
    }

    /// `classifier`: a judge's file, for a label reward.
    public init(checkpoint: String, reward specification: String, classifier: String?, output: String, resume: Bool,
                settings: Settings) throws {
        modelPath = checkpointPath(checkpoint)
        model = try TrainedModel(checkpoint: modelPath)
        guard model.configuration.classes == nil else {
            throw UsageError("'\(checkpoint)' is a conditional model: it draws a class when asked ('melforge synthesize --label NAME'); steer works on unconditional generators")
        }
        let judge = try classifier.map { try Judge(path: $0) }
        reward = try Reward(specification, judge: judge, model: model, modelPath: modelPath)
        steering = Steering(policy: LatentPolicy(latentSize: model.configuration.latentSize), batchSize: settings.batchSize,
                            learningRate: settings.learningRate, klWeight: settings.klWeight, seed: settings.seed)
        self.output = output
        let stem = output.hasSuffix(".safetensors") ? String(output.dropLast(".safetensors".count)) : output
        log = RunLog(path: stem + ".log.jsonl")
        let exists = FileManager.default.fileExists(atPath: output)
        if exists && !resume {
            throw UsageError("'\(output)' already exists; pass --resume to continue that run, or choose another -o")
        }
        if isDirectory(URL(fileURLWithPath: output).deletingLastPathComponent().path) {
            try OutputLock.hold(OutputLock.file(beside: output), for: output, command: OutputLock.thisCommand)
        }
        if resume && exists {
            let file = try SafeTensors.read(output)
            guard file.metadata["format"] == Steering.format else {
                throw InputError(file: output, problem: "is not a MelForge policy; choose another -o")
            }
            guard Self.steeredFor(file.metadata) == model.configuration, file.metadata["reward"] == reward.specification else {
                throw InputError(file: output, problem: "was steered for another generator or reward (\(file.metadata["reward"] ?? "?")); resume it with the same --checkpoint and --reward")
            }
            try steering.restore(from: file, path: output)
            log = RunLog.resumed(path: log.path, atStep: steering.step)
        }
        resumed = resume && exists
        metadata = ["generator": modelPath,
                    "generator_training": String(decoding: try JSONEncoder().encode(model.configuration), as: UTF8.self),
                    "generator_step": model.metadata["step"] ?? "", "reward": reward.specification]
        if let classifier { metadata["classifier"] = classifier }
    }

    public var logPath: String { log.path }
    public var curvePath: String { String(log.path.dropLast(".log.jsonl".count)) + ".svg" }

    /// Steers to `steps` with a progress line; returns the before/after comparison.
    public func steer(steps: Int, saveEvery: Int, evaluationCount: Int, seed: UInt64) throws -> (before: Assessment, after: Assessment) {
        let latentSize = model.configuration.latentSize
        let before = try assess(LatentPolicy(latentSize: latentSize), count: evaluationCount, seed: seed)
        let progress = ProgressBar(total: steps, label: "steer", unit: "steps")
        while steering.step < steps {
            let report = try steering.step { latents in
                try reward(model.images(latents: latents), model: model, modelPath: modelPath)
            }
            progress.update(report.step, note: String(format: "reward mean %.3f  best %.3f  entropy %.1f  KL %.2f",
                                                      report.meanReward, report.bestReward, report.entropy, report.divergence))
            log.append(line: String(format: "{\"step\": %d, \"reward_mean\": %.6g, \"reward_best\": %.6g, \"entropy\": %.6g, \"kl\": %.6g}",
                                    report.step, report.meanReward, report.bestReward, report.entropy, report.divergence))
            if !report.meanReward.isFinite {
                progress.finish()
                throw UsageError("the reward is \(report.meanReward) at step \(report.step); stopped (the last good policy is in '\(output)' if one was saved)")
            }
            let stop = Preemption.requested
            if report.step % saveEvery == 0 || report.step == steps || stop != nil { try save() }
            if let stop, report.step < steps {
                progress.finish()
                throw Preempted(signal: stop, kept: "policy at step \(report.step) of \(steps) written to '\(output)'",
                                resume: "run the same command with --resume")
            }
        }
        progress.finish()
        let after = try assess(steering.policy, count: evaluationCount, seed: seed)
        metadata["before"] = before.json
        metadata["after"] = after.json
        try save()
        return (before, after)
    }

    func save() throws {
        try steering.save(to: output, metadata: metadata)
        try log.save()
        try LossCurve.write(log: log.lines, to: curvePath, only: ["reward_mean", "reward_best"],
                            title: "Steering toward \(reward.specification)", yLabel: "reward")
    }

    /// `count` samples from `policy`, judged: mean reward, the target label's share, the
    /// acoustic measure, and |D|self (in the classifier's input space for a label reward, else
    /// in the generator's image space).
    func assess(_ policy: LatentPolicy, count: Int, seed: UInt64) throws -> Assessment {
        var random = RandomNumbers(seed: seed &+ 0xE7A1)
        let (latents, _) = policy.sample(count: count, random: &random)
        var images: [Float] = []
        var rewards: [Float] = []
        var measures: [Double] = []
        let z = model.configuration.latentSize
        for start in stride(from: 0, to: count, by: 64) {
            let end = min(count, start + 64)
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
        let d = images.count / count
        var assessment = Assessment(
            meanReward: average(rewards),
            dSelf: average(nearestNeighbourDistances(images, images, dimension: d, excludingSelf: true)),
            entropy: policy.entropy)
        if case .label(let index, _, let judge) = reward.kind {
            let c = model.configuration
            let set = Tensor(shape: [count, c.channels, c.imageSize, c.imageSize], values: images)
            assessment.targetFraction = judge.fraction(of: index, in: set)
        }
        if !measures.isEmpty { assessment.meanMeasure = measures.reduce(0, +) / Double(measures.count) }
        return assessment
    }

    /// The configuration of the generator a policy's metadata says it was steered for.
    public static func steeredFor(_ metadata: [String: String]) -> TrainingConfiguration? {
        metadata["generator_training"].flatMap { try? JSONDecoder().decode(TrainingConfiguration.self, from: Data($0.utf8)) }
    }

    /// The policy in `path`, which must have been steered for this very generator; a
    /// warning (through `warn`) when the generator has trained on since.
    public static func policy(_ path: String, for model: TrainedModel, modelPath: String,
                              warn: (String) -> Void) throws -> (policy: LatentPolicy, metadata: [String: String]) {
        let (policy, metadata) = try Steering.loadPolicy(path)
        guard steeredFor(metadata) == model.configuration, policy.latentSize == model.configuration.latentSize else {
            throw UsageError("--policy '\(path)' was steered for generator '\(metadata["generator"] ?? "?")', not for '\(modelPath)' (another configuration)")
        }
        if let step = metadata["generator_step"], step != model.metadata["step"] {
            warn("warning: --policy '\(path)' was steered for this generator at step \(step); the checkpoint is at step \(model.metadata["step"] ?? "?")")
        }
        return (policy, metadata)
    }
}

/// Samples of a policy, judged.
public struct Assessment: Encodable {
    public var meanReward: Double
    public var dSelf: Double
    public var entropy: Double
    public var targetFraction: Double? = nil
    public var meanMeasure: Double? = nil

    var json: String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Before and after side by side.
    public static func table(before: Assessment, after: Assessment, reward: Reward) -> String {
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
