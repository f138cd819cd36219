import AudioIO
import FileFormats
import Foundation
import Layers
import NeuralVocoder
import Spectral
import Tensors
import WorkerPool

/// What a user asks of a new learned vocoder; the rest comes from the data.
public struct VocoderRequest {
    public var frontEnd: FrontEndConfiguration
    public var width = 128
    public var hiddenWidth: Int?
    public var blocks = 4
    public var segmentFrames = 32
    public var batchSize = 16
    public var learningRate: Float = 1e-3
    public var seed: UInt64 = 0
    public var weights = LossWeights()
    /// Train against discriminators (nil: none; `setAdversarial(nil, ...)` gives the command's
    /// default, with them).
    public var adversarial: AdversarialConfiguration?
    /// What the user said: true (`--adversarial`), false (`--no-adversarial`) or nothing. A
    /// new run trains against discriminators unless told not to; a resumed run keeps what it
    /// had unless told (`--adversarial` adds them to a run without).
    public var adversarialChoice: Bool?
    /// Also train on every clip at these speeds (`--speed-perturb`); nil: not asked (a resumed
    /// run keeps its own).
    public var speeds: [Float]?

    public init(frontEnd: FrontEndConfiguration) { self.frontEnd = frontEnd }

    /// The request with discriminators (unless `choice` is false: `--no-adversarial`), their
    /// learning rate and loss, and the mel L1's weight (45 with discriminators, as HiFi-GAN and
    /// Vocos weigh it, unless given). The discriminators' learning rate or loss with
    /// `--no-adversarial` is refused: there would be nothing for them to set.
    public mutating func setAdversarial(_ choice: Bool?, learningRate: Float?, loss: AdversarialConfiguration.Loss?,
                                        melWeight: Float?) throws {
        if choice == false, let given = learningRate.map({ "--lr-d \($0)" }) ?? loss.map({ "--adversarial-loss \($0.rawValue)" }) {
            throw UsageError("\(given) is the discriminators'; --no-adversarial trains without them (drop one of the two)")
        }
        adversarialChoice = choice
        let on = choice ?? true
        adversarial = nil
        if on {
            var adversarial = AdversarialConfiguration(nFFT: frontEnd.nFFT)
            if let learningRate { adversarial.learningRate = learningRate }
            if let loss { adversarial.loss = loss }
            self.adversarial = adversarial
        }
        weights.mel = melWeight ?? (on ? 45 : 1)
    }

    /// The speeds of `--speed-perturb` ("0.9,1.1"): each in 0.5...2, 1 (always trained on)
    /// left out, no repeats, at most `LearnedVocoderConfiguration.maxSpeeds`.
    public static func speeds(from text: String) throws -> [Float] {
        let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        let speeds = values.compactMap { $0 }.filter { $0 != 1 }.reduce(into: [Float]()) { if !$0.contains($1) { $0.append($1) } }
        guard !values.isEmpty, values.allSatisfy({ $0.map { (0.5...2).contains($0) } ?? false }),
              speeds.count <= LearnedVocoderConfiguration.maxSpeeds else {
            throw UsageError("--speed-perturb '\(text)' is not accepted; expected at most \(LearnedVocoderConfiguration.maxSpeeds) speeds from 0.5 to 2 separated by commas (0.9,1.1: every clip also at 90% and 110% speed)")
        }
        return speeds
    }

    /// `melforge train vocoder`'s discussion.
    public static let help = """
        --data DIR: every audio file under DIR (any format libsndfile reads), resampled to \
        --sample-rate. The vocoder reads the features the front-end flags make (64 bands by \
        default, as 'melforge train' uses) and is refused for features made another way. Each \
        step trains on --batch-size segments of --segment-frames frames: a ConvNeXt reads each \
        frame's log-mel and predicts a correction of the NNLS magnitude and a phase; the sound \
        comes from the inverse STFT and is measured against the clip by a multi-resolution STFT \
        loss, a log-mel L1, and magnitude and phase losses (instantaneous phase, group delay, \
        instantaneous frequency) against the clip's own STFT.

        It trains against discriminators, as HiFi-GAN and Vocos do (--no-adversarial: without \
        them; each step then takes about a fifth of the time, but on real speakers it does no \
        better in the same time): a multi-period one on \
        the waveform (periods 2, 3, 5, 7, 11) and a multi-resolution one on magnitude \
        spectrograms (half, once and twice --n-fft), hinge loss (--adversarial-loss), feature \
        matching (weight 2) and the log-mel L1 at weight 45 (--mel-weight); the discriminators \
        learn at --lr-d. A resumed run keeps what it had; one trained without them can be \
        resumed with --adversarial: they join it at its step.

        --speed-perturb 0.9,1.1 also trains on every clip played at those speeds (resampled: \
        pitch and formants move with the speed, as a smaller or larger speaker's would), so \
        that a few speakers' recordings teach more voices. The run keeps the setting.

        RUN_DIR receives checkpoint.safetensors (weights, Adam's state, random state, the \
        configuration, and the discriminators with theirs; written atomically every \
        --checkpoint-every steps), log.jsonl, losses.svg and samples/ (the first training \
        clips through the vocoder). --resume continues a killed run with the same losses as \
        an uninterrupted one. Use it with --vocoder RUN_DIR on synthesize, invert, resynth and \
        convert --to wav. Under mpirun each process trains on its share of every batch.
        """
}

/// `melforge train vocoder`: a learned vocoder trained in a run folder on the audio clips of
/// a folder, checkpointed, logged and pictured as it goes, resumable after a kill with the
/// same losses.
///
/// The folder receives data.cache (the prepared clips, read a segment at a time, with its index
/// data.cache.json; reused on --resume when the data are unchanged), checkpoint.safetensors (weights, Adam's state, random state, the
/// configuration with its front end; written atomically), log.jsonl, losses.svg, and
/// samples/NAME.wav: the first training clips through the vocoder as it stands.
public final class VocoderTrainingSession {
    public let folder: String
    public let trainer: VocoderTrainer
    public let resumed: Bool
    let dataPath: String
    var log: RunLog

    var checkpointPath: String { folder + "/checkpoint.safetensors" }

    /// The clips under `data` (any format libsndfile reads, searched recursively), each as the
    /// vocoder trains on it, prepared into the disk cache `cache` (reused when it was made from
    /// the same files and settings); unreadable ones are reported through `warn` and skipped.
    /// Only one chunk of clips is in memory at a time.
    public static func corpus(in data: String, cache: String, configuration: LearnedVocoderConfiguration,
                              warn: @escaping @Sendable (String) -> Void) throws -> VocoderDataCache {
        guard isDirectory(data) else { throw InputError(file: data, problem: "is not a folder of audio files") }
        let files = listFiles(data, extensions: audioFileExtensions)
        guard !files.isEmpty else {
            throw InputError(file: data, problem: "holds no audio files (\(audioFileExtensions.sorted().joined(separator: ", ")))")
        }
        let fingerprint = try Self.fingerprint(data: data, files: files, configuration: configuration)
        if let cached = VocoderDataCache.open(cache, fingerprint: fingerprint) { return cached }
        let inversion = try FeatureInversion(configuration: configuration.frontEnd, nnlsIterations: configuration.nnlsIterations)
        let (rate, frames) = (configuration.frontEnd.sampleRate, configuration.segmentFrames)
        // Each file as recorded, then at each perturbed speed: played s times as fast is the
        // same samples read as if recorded at rate x s, resampled to the rate.
        let speeds = [Float(1)] + (configuration.speeds ?? [])  // (bounded by speeds(from:) and when a checkpoint is read)
        let count = files.count * speeds.count
        let progress = Replicas.isFirst && count >= 200 ? ProgressBar(total: count, label: "prepare clips", unit: "clips") : nil
        let corpus = try VocoderDataCache.build(cache, fingerprint: fingerprint, count: count, prepare: { index in
            let (file, speed) = (files[index / speeds.count], speeds[index % speeds.count])
            do {
                var samples = try AudioFile.read(data + "/" + file, sampleRate: rate).samples
                if speed != 1 {
                    samples = try Resampler.resample(samples, from: Int((Float(rate) * speed).rounded()), to: rate)
                }
                return try VocoderClip(name: speed == 1 ? file : "\(file)@\(speed)x", samples: samples, inversion: inversion,
                                       segmentFrames: frames)
            } catch {
                if speed == 1 { warn("skipping: \(error)") }
                return nil
            }
        }, progress: { progress?.update($0) })
        progress?.finish()
        guard corpus.count > 0 else { throw InputError(file: data, problem: "has no readable audio file") }
        return corpus
    }

    /// What the cache of `data` depends on: each file's path, size and time, and the settings
    /// that shape a prepared clip.
    static func fingerprint(data: String, files: [String], configuration c: LearnedVocoderConfiguration) throws -> String {
        let manager = FileManager.default
        let sortedEncoder = JSONEncoder()
        sortedEncoder.outputFormatting = .sortedKeys
        var lines = ["melforge-vocoder-cache/1", String(decoding: try sortedEncoder.encode(c.frontEnd), as: UTF8.self),
                     "segment \(c.segmentFrames) nnls \(c.nnlsIterations)"]
        if let speeds = c.speeds, !speeds.isEmpty { lines.append("speeds \(speeds.map { "\($0)" }.joined(separator: ","))") }
        for file in files {
            let attributes = try? manager.attributesOfItem(atPath: data + "/" + file)
            let size = attributes?[.size] as? Int ?? -1
            let time = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            lines.append("\(file)\t\(size)\t\(time)")
        }
        return lines.joined(separator: "\n")
    }

    /// A new run in `folder` (which must hold none), or with `resume` the run it holds; the
    /// clips come from `data`.
    public init(folder: String, data: String, request: VocoderRequest, resume: Bool,
                report: (String) -> Void, warn: @escaping @Sendable (String) -> Void) throws {
        self.folder = folder
        dataPath = data
        let checkpointPath = folder + "/checkpoint.safetensors"
        let existing = FileManager.default.fileExists(atPath: checkpointPath)
        if existing && !resume {
            throw UsageError("'\(folder)' already holds a run; pass --resume to continue it, or choose another --out")
        }
        guard request.frontEnd.scale == .db else {
            throw UsageError("the learned vocoder reads dB features; --scale \(request.frontEnd.scale.rawValue) is not accepted (use --scale db)")
        }
        // Its segments are cut from centred frames (frame t centred on sample t hop).
        guard request.frontEnd.center else {
            throw UsageError("the learned vocoder needs centred frames; --no-center is not accepted")
        }
        var configuration: LearnedVocoderConfiguration
        var file: SafeTensors?
        var addsDiscriminators = false
        if resume && existing {
            let saved = try SafeTensors.read(checkpointPath)
            configuration = try VocoderTrainer.configuration(of: saved, path: checkpointPath)
            let differences = AudioImaging.differences(configuration.frontEnd, request.frontEnd)
            guard differences.isEmpty else {
                throw InputError(file: checkpointPath, problem: "was trained on other front-end settings (given vs run: \(differences.joined(separator: ", "))); resume it with \(AudioImaging.flags(for: configuration.frontEnd, differingFrom: request.frontEnd))")
            }
            file = saved
            // Discriminators join a run trained without them (at its step, freshly made).
            if configuration.adversarial == nil, request.adversarialChoice == true, let adversarial = request.adversarial {
                configuration.adversarial = adversarial
                configuration.weights = request.weights
                addsDiscriminators = true
            } else if configuration.adversarial != nil && request.adversarialChoice == false {
                throw UsageError("'\(folder)' trains against discriminators; resume it without --no-adversarial")
            }
            if let asked = request.speeds, asked != (configuration.speeds ?? []) {
                let kept = configuration.speeds.map { $0.map { "\($0)" }.joined(separator: ",") }
                throw UsageError("'\(folder)' was trained \(kept.map { "with --speed-perturb \($0)" } ?? "without --speed-perturb"); resume it \(kept == nil ? "without it" : "with the same (or without the flag)")")
            }
        } else {
            // The input range is fitted below, once the clips are read.
            configuration = LearnedVocoderConfiguration(frontEnd: request.frontEnd, inputRange: try LogMelNormalization(minDB: -80, maxDB: 0))
            (configuration.width, configuration.hiddenWidth, configuration.blocks) = (request.width, request.hiddenWidth ?? 3 * request.width, request.blocks)
            (configuration.segmentFrames, configuration.batchSize, configuration.learningRate) = (request.segmentFrames, request.batchSize, request.learningRate)
            (configuration.seed, configuration.weights) = (request.seed, request.weights)
            configuration.adversarial = request.adversarial
            configuration.speeds = request.speeds.flatMap { $0.isEmpty ? nil : $0 }
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if Replicas.isFirst { try OutputLock.hold(OutputLock.file(inFolder: folder), for: folder, command: OutputLock.thisCommand) }
        // Each process of a data-parallel job keeps its own cache (processes may not share a disk).
        let cache = folder + (Replicas.isFirst ? "/data.cache" : "/data-\(Replicas.rank).cache")
        let corpus = try Self.corpus(in: data, cache: cache, configuration: configuration, warn: warn)
        if file == nil {
            let peak = (0..<corpus.count).map { corpus.peakDecibels($0) }.max() ?? 0
            configuration.inputRange = try LogMelNormalization(minDB: peak - AudioImaging.dynamicRange, maxDB: peak)
        }
        let seconds = corpus.seconds(hop: configuration.frontEnd.hopLength, rate: configuration.frontEnd.sampleRate)
        report("\(corpus.count) clips (\(String(format: "%.1f", seconds)) s) from \(data), \(configuration.frontEnd.nMels) mel bands")
        trainer = try VocoderTrainer(configuration: configuration, corpus: corpus)
        if let file {
            try trainer.restore(from: file, path: checkpointPath, freshDiscriminators: addsDiscriminators)
            if addsDiscriminators { report("discriminators join the run at step \(trainer.step)") }
            log = RunLog.resumed(path: folder + "/log.jsonl", atStep: trainer.step)
            resumed = true
        } else {
            log = RunLog(path: folder + "/log.jsonl")
            resumed = false
        }
    }

    public struct Schedule {
        public var steps = 2_000
        public var checkpointEvery = 200
        public var logEvery = 10
        /// Training clips written through the vocoder at each checkpoint.
        public var sampleCount = 4

        public init() {}
    }

    /// Trains to the schedule's last step with a progress line; a NaN or infinite loss stops
    /// training and keeps the last good checkpoint. Returns a one-line summary.
    public func train(_ schedule: Schedule) throws -> String {
        let writes = Replicas.isFirst
        let progress = writes ? ProgressBar(total: schedule.steps, label: "train vocoder", unit: "steps") : nil
        let configuration = trainer.configuration
        let secondsPerSegment = Double((configuration.segmentFrames - 1) * configuration.frontEnd.hopLength)
            / Double(configuration.frontEnd.sampleRate)
        let started = Date()
        let firstStep = trainer.step
        while trainer.step < schedule.steps {
            let losses = try trainer.trainStep()
            if let bad = losses.first(where: { !$0.value.isFinite }) {
                progress?.finish()
                throw TrainingError.diverged(step: trainer.step, loss: bad.key, value: bad.value, checkpoint: checkpointPath)
            }
            // Seconds of audio trained on per second.
            let rate = Double(trainer.step - firstStep) * Double(configuration.batchSize) * secondsPerSegment
                / Date().timeIntervalSince(started)
            progress?.update(trainer.step, note: ["loss", "mel", "sc", "phase_ip", "adv", "disc"].compactMap { key in
                losses[key].map { "\(key) \(String(format: "%.3f", $0))" }
            }.joined(separator: "  ") + String(format: "  %.1f audio-s/s", rate))
            if trainer.step % schedule.logEvery == 0 || trainer.step == schedule.steps {
                log.append(step: trainer.step, values: losses, trailing: [("audio_s_per_s", String(format: "%.2f", rate))])
            }
            let stop = Preemption.agreed()
            if writes && (trainer.step % schedule.checkpointEvery == 0 || trainer.step == schedule.steps || stop != nil) {
                try trainer.save(to: checkpointPath, metadata: ["data": dataPath])
                try log.save()
                try LossCurve.write(log: log.lines, to: folder + "/losses.svg", excluding: ["audio_s_per_s"],
                                    title: "Vocoder training losses", yLabel: "loss")
                if stop == nil { try writeSamples(count: schedule.sampleCount) }  // a preempted job has seconds
            }
            if let stop, trainer.step < schedule.steps {
                progress?.finish()
                throw Preempted(signal: stop, kept: "checkpoint at step \(trainer.step) of \(schedule.steps) written to '\(checkpointPath)'",
                                resume: "run the same command with --resume")
            }
        }
        progress?.finish()
        return "\(folder): \(trainer.step) steps; checkpoint, log.jsonl, losses.svg and samples/ written"
    }

    /// samples/NAME.wav: the first `count` training clips through the vocoder as it stands.
    func writeSamples(count: Int) throws {
        guard count > 0 else { return }
        let vocoder = try LearnedVocoder(checkpoint: checkpointPath)
        try FileManager.default.createDirectory(atPath: folder + "/samples", withIntermediateDirectories: true)
        let corpus = trainer.corpus
        for clip in 0..<min(count, corpus.count) {
            let made = try vocoder.synthesize(try corpus.features(clip), normalization: nil, length: corpus.sampleCount(clip))
            let name = (corpus.name(clip) as NSString).deletingPathExtension.replacingOccurrences(of: "/", with: "-")
            try AudioFile.write(made.samples, sampleRate: trainer.configuration.frontEnd.sampleRate,
                                to: folder + "/samples/\(name).wav")
        }
    }
}
