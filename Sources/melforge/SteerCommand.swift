import ArgumentParser
import Pipeline

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

    @OptionGroup(title: "Training")
    var training: TrainingOptions<SteeringDefaults>

    @OptionGroup(title: "Engine")
    var engine: EngineOptions

    @Option(help: "Weight of KL(policy || prior) in the loss: higher keeps more variety, lower follows the reward harder.")
    var klWeight: Float = 0.02

    @Option(help: "Save the policy, the log and the curve every this many steps.")
    var saveEvery = 20

    @Option(help: "Samples drawn before and after steering to compare them.")
    var evalCount = 512

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps \(steps) is not accepted; expected 1 or more") }
        guard klWeight >= 0 && klWeight.isFinite else {
            throw ValidationError("--kl-weight \(klWeight) is not accepted; expected 0 or more")
        }
        guard saveEvery >= 1 else { throw ValidationError("--save-every \(saveEvery) is not accepted; expected 1 or more") }
        guard evalCount >= 2 else { throw ValidationError("--eval-count \(evalCount) is not accepted; expected 2 or more") }
    }

    func run() throws {
        Preemption.catchSignals()  // SIGTERM, SIGINT: stop at the next safe point, keeping the work
        print("convolutions: \(engine.apply())")
        var settings = SteeringSession.Settings()
        (settings.batchSize, settings.learningRate, settings.klWeight, settings.seed) = (training.batchSize, training.lr, klWeight, training.seed)
        let session = try SteeringSession(checkpoint: checkpoint, reward: reward, classifier: classifier, output: output,
                                          resume: training.resume, settings: settings)
        if session.resumed { print("resuming \(output) at step \(session.steering.step)") }
        let (before, after) = try session.steer(steps: steps, saveEvery: saveEvery, evaluationCount: evalCount, seed: training.seed)
        print(Assessment.table(before: before, after: after, reward: session.reward))
        print("\(output): policy after \(session.steering.step) steps; \(session.logPath) and \(session.curvePath) beside it")
    }
}

struct SteeringDefaults: TrainingDefaults {
    static let learningRate: Float = 0.05
    static let minimumBatchSize = 2
    static let seedHelp = "Seed of the latents drawn."
    static let resumeHelp = "Continue the run in --output from its last save."
}
