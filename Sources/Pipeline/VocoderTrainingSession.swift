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

    public init(frontEnd: FrontEndConfiguration) { self.frontEnd = frontEnd }
}

/// `melforge train vocoder`: a learned vocoder trained in a run folder on the audio clips of
/// a folder, checkpointed, logged and pictured as it goes, resumable after a kill with the
/// same losses.
///
/// The folder receives checkpoint.safetensors (weights, Adam's state, random state, the
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
    /// vocoder trains on it; unreadable ones are reported through `warn` and skipped.
    public static func clips(in data: String, configuration: LearnedVocoderConfiguration,
                             warn: @escaping @Sendable (String) -> Void) throws -> [VocoderClip] {
        guard isDirectory(data) else { throw InputError(file: data, problem: "is not a folder of audio files") }
        let files = listFiles(data, extensions: audioFileExtensions)
        guard !files.isEmpty else {
            throw InputError(file: data, problem: "holds no audio files (\(audioFileExtensions.sorted().joined(separator: ", ")))")
        }
        let inversion = try FeatureInversion(configuration: configuration.frontEnd, nnlsIterations: configuration.nnlsIterations)
        let (rate, frames) = (configuration.frontEnd.sampleRate, configuration.segmentFrames)
        let clips = try Workers.each(files.count) { index -> VocoderClip? in
            let path = data + "/" + files[index]
            do {
                let samples = try AudioFile.read(path, sampleRate: rate).samples
                return try VocoderClip(name: files[index], samples: samples, inversion: inversion, segmentFrames: frames)
            } catch {
                warn("skipping: \(error)")
                return nil
            }
        }.compactMap { $0 }
        guard !clips.isEmpty else { throw InputError(file: data, problem: "has no readable audio file") }
        return clips
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
        if resume && existing {
            let saved = try SafeTensors.read(checkpointPath)
            configuration = try VocoderTrainer.configuration(of: saved, path: checkpointPath)
            let differences = AudioImaging.differences(configuration.frontEnd, request.frontEnd)
            guard differences.isEmpty else {
                throw InputError(file: checkpointPath, problem: "was trained on other front-end settings (given vs run: \(differences.joined(separator: ", "))); resume it with \(AudioImaging.flags(for: configuration.frontEnd, differingFrom: request.frontEnd))")
            }
            file = saved
        } else {
            // The input range is fitted below, once the clips are read.
            configuration = LearnedVocoderConfiguration(frontEnd: request.frontEnd, inputRange: try LogMelNormalization(minDB: -80, maxDB: 0))
            (configuration.width, configuration.hiddenWidth, configuration.blocks) = (request.width, request.hiddenWidth ?? 3 * request.width, request.blocks)
            (configuration.segmentFrames, configuration.batchSize, configuration.learningRate) = (request.segmentFrames, request.batchSize, request.learningRate)
            (configuration.seed, configuration.weights) = (request.seed, request.weights)
        }
        let clips = try Self.clips(in: data, configuration: configuration, warn: warn)
        if file == nil {
            let peak = clips.map { $0.peakDecibels }.max() ?? 0
            configuration.inputRange = try LogMelNormalization(minDB: peak - AudioImaging.dynamicRange, maxDB: peak)
        }
        let seconds = clips.reduce(0) { $0 + Double($1.frames - 1) } * Double(configuration.frontEnd.hopLength)
            / Double(configuration.frontEnd.sampleRate)
        report("\(clips.count) clips (\(String(format: "%.1f", seconds)) s) from \(data), \(configuration.frontEnd.nMels) mel bands")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if Replicas.isFirst { try OutputLock.hold(OutputLock.file(inFolder: folder), for: folder, command: OutputLock.thisCommand) }
        trainer = try VocoderTrainer(configuration: configuration, clips: clips)
        if let file {
            try trainer.restore(from: file, path: checkpointPath)
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
            progress?.update(trainer.step, note: ["loss", "mel", "sc", "phase_ip"].compactMap { key in
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
        for clip in trainer.clips.prefix(count) {
            let made = try vocoder.synthesize(clip.features, normalization: nil, length: clip.sampleCount)
            let name = (clip.name as NSString).deletingPathExtension.replacingOccurrences(of: "/", with: "-")
            try AudioFile.write(made.samples, sampleRate: trainer.configuration.frontEnd.sampleRate,
                                to: folder + "/samples/\(name).wav")
        }
    }
}
