import ArgumentParser
import Foundation
import Pipeline
import WorkerPool

/// What `convert --to` turns features into.
enum ConvertTarget: String, CaseIterable {
    case wav
}

/// `melforge convert`: folders of clips to training-ready features (and back), on all cores,
/// resumable, and split deterministically across machines.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Turn a folder of audio into log-mel .npy features (or, with --to wav, features back into audio).",
        discussion: """
            Every file libsndfile reads under INPUT_DIR becomes OUTPUT_DIR/<same path>.npy with the \
            spectrogram command's front end (its flags apply), or with --format shards a tensor \
            [n_mels, frames] named <same path without extension> in OUTPUT_DIR/shards/*.safetensors \
            files of about --shard-size MB (the manifest line names the shard and the tensor); \
            OUTPUT_DIR/frontend.json records the settings and manifest.jsonl \
            (manifest-K-of-N.jsonl under --shard K/N) one line per file: source, output, file (the \
            output's path inside OUTPUT_DIR), frames, duration, original sample rate, label (the \
            parent folder), status and error. Bad files are recorded and skipped; the exit status \
            is non-zero only with --strict or when nothing converted. Every output is written atomically; after a \
            kill, --resume finishes the job without redoing finished files.

            Many machines: --shard K/N (0 <= K < N) takes a fixed 1/N of the files, chosen by a \
            hash of each file's path; K and N default from SLURM_ARRAY_TASK_ID (minus \
            SLURM_ARRAY_TASK_MIN) and SLURM_ARRAY_TASK_COUNT, or from JOB_COMPLETION_INDEX with \
            --shard-count. 'melforge convert --merge OUTPUT_DIR' joins the shards' manifests.
            """)

    @Argument(help: "The folder to convert (for --merge: the output folder whose shard manifests to join).")
    var input: String

    @Option(name: .shortAndLong, help: "Output folder.")
    var output: String?

    @Option(help: "npy: one .npy per clip mirroring INPUT_DIR; shards: safetensors files under OUTPUT_DIR/shards, one tensor per clip, the manifest as their index.")
    var format = Conversion.FeatureFormat.npy.rawValue

    @Option(help: "Approximate size of one shard in megabytes (--format shards).")
    var shardSize = 128.0

    @Option(help: "wav: turn a folder of .npy features (or the shards of --format shards) back into WAV files through the vocoder.")
    var to: String?

    @Flag(help: "Join OUTPUT_DIR's manifest-K-of-N.jsonl files into manifest.jsonl.")
    var merge = false

    @Option(help: "Worker threads (default: all cores, or MELFORGE_THREADS).")
    var jobs = Workers.count

    @Option(help: "This machine's share, K/N with 0 <= K < N (default: from Slurm or Kubernetes, else 0/1).")
    var shard: String?

    @Option(help: "N for Kubernetes Indexed Jobs, whose JOB_COMPLETION_INDEX gives K.")
    var shardCount: Int?

    @Flag(help: "Continue an interrupted conversion in OUTPUT_DIR.")
    var resume = false

    @Flag(help: "Exit non-zero if any file fails.")
    var strict = false

    @OptionGroup(title: "Front end")
    var frontEnd: FrontEndOptions

    @OptionGroup(title: "Labels and speakers (recorded in the manifest)")
    var naming: NamingOptions

    @OptionGroup(title: "Vocoder (--to wav)")
    var vocoder: VocoderOptions

    func validate() throws {
        if merge {
            guard output == nil, to == nil else { throw ValidationError("--merge takes only OUTPUT_DIR") }
            return
        }
        guard output != nil else { throw ValidationError("-o OUTPUT_DIR is required") }
        let format: Conversion.FeatureFormat = try choice(self.format, option: "--format")
        let target: ConvertTarget? = try to.map { try choice($0, option: "--to") }
        if format == .shards && target != nil { throw ValidationError("--format shards makes features; --to wav makes WAV files") }
        guard shardSize > 0, shardSize.isFinite else { throw ValidationError("--shard-size \(shardSize) is not accepted; expected megabytes > 0") }
        guard jobs >= 1 else { throw ValidationError("--jobs \(jobs) is not accepted; expected 1 or more") }
        if let shard, Share(shard) == nil {
            throw ValidationError("--shard '\(shard)' is not accepted; expected K/N with 0 <= K < N")
        }
    }

    func run() throws {
        Preemption.catchSignals()  // SIGTERM, SIGINT: stop at the next safe point, keeping the work
        if merge {
            let (records, manifests) = try Manifest.merge(input)
            return print("\(input)/manifest.jsonl: \(records) files from \(manifests) shard manifests")
        }
        Workers.count = jobs
        let direction: Conversion.Direction = switch to.flatMap(ConvertTarget.init) {
        case .wav?: .audio(vocoder: try vocoder.vocoder(for: try Conversion.featureFrontEnd(input: input, fallback: frontEnd.configuration)))
        case nil: .features(frontEnd: frontEnd.configuration, format: Conversion.FeatureFormat(rawValue: format)!,
                            shardMegabytes: shardSize)
        }
        var conversion = Conversion(input: input, output: output!, direction: direction)
        conversion.share = try shard.flatMap(Share.init) ?? Share.fromScheduler(ProcessInfo.processInfo.environment,
                                                                                  indexedJobCount: shardCount)
        (conversion.naming, conversion.resume) = (naming.naming, resume)
        let summary = try conversion.run()
        print(summary.description(share: conversion.share.label, manifest: conversion.manifestPath))
        if let failure = summary.failure(strict: strict, manifest: conversion.manifestPath) { throw failure }
    }
}
