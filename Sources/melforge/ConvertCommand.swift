import ArgumentParser
import AudioIO
import Dispatch
import FileFormats
import Foundation
import Spectral
import Synchronization

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
    var format = "npy"

    @Option(help: "Approximate size of one shard in megabytes (--format shards).")
    var shardSize = 128.0

    @Option(help: "wav: turn a folder of .npy features (or the shards of --format shards) back into WAV files through the vocoder.")
    var to: String?

    @Flag(help: "Join OUTPUT_DIR's manifest-K-of-N.jsonl files into manifest.jsonl.")
    var merge = false

    @Option(help: "Worker threads (default: all cores).")
    var jobs = ProcessInfo.processInfo.activeProcessorCount

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

    @OptionGroup(title: "Vocoder (--to wav)")
    var vocoder: VocoderOptions

    func validate() throws {
        if merge {
            guard output == nil, to == nil else { throw ValidationError("--merge takes only OUTPUT_DIR") }
            return
        }
        guard output != nil else { throw ValidationError("-o OUTPUT_DIR is required") }
        if let to, to != "wav" { throw ValidationError("--to '\(to)' is not accepted; expected wav") }
        guard ["npy", "shards"].contains(format) else { throw ValidationError("--format '\(format)' is not accepted; expected npy or shards") }
        if format == "shards" && to != nil { throw ValidationError("--format shards makes features; --to wav makes WAV files") }
        guard shardSize > 0, shardSize.isFinite else { throw ValidationError("--shard-size \(shardSize) is not accepted; expected megabytes > 0") }
        guard jobs >= 1 else { throw ValidationError("--jobs \(jobs) is not accepted; expected 1 or more") }
        if let shard, parseShard(shard) == nil {
            throw ValidationError("--shard '\(shard)' is not accepted; expected K/N with 0 <= K < N")
        }
    }

    func run() throws {
        if merge { return try mergeManifests(input) }
        guard isDirectory(input) else { throw CommandError("'\(input)' is not a folder") }
        let output = self.output!
        let (k, n) = try shardAssignment()
        let manifestName = n == 1 ? "manifest.jsonl" : "manifest-\(k)-of-\(n).jsonl"
        let manifestPath = output + "/" + manifestName
        if FileManager.default.fileExists(atPath: manifestPath) && !resume {
            throw CommandError("'\(output)' already holds \(manifestName); pass --resume to finish that job, or choose another -o")
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)

        let toWAV = to == "wav"
        // For --to wav, features in shards count as files named after their tensors.
        let sharded = toWAV ? try shardedFeatures(input) : [:]
        let all = (listFiles(input, extensions: toWAV ? ["npy"] : audioFileExtensions) + sharded.keys).sorted()
        let files = all.filter { shardIndex(of: $0, count: n) == k }
        if resume {
            // This machine's temporary files only: under --shard K/N the other machines may be
            // writing theirs into the same folder right now.
            let own = Set(files.map { Self.outputFile($0, toWAV: toWAV) } + [manifestName] + (n == 1 ? ["frontend.json"] : []))
            let prefix = Self.shardPrefix(k: k, n: n)
            removeLeftovers(output) { file in
                own.contains(file) || (file.hasPrefix("shards/")
                    && ShardWriter.index(ofFile: String(file.dropFirst("shards/".count)), prefix: prefix) != nil)
            }
        }
        let configuration = try toWAV ? featureConfiguration() : frontEnd.configuration
        if !toWAV {
            // Features already there were made with these settings: a resume (or another
            // machine's shard) with other flags would mix two kinds of features in one folder.
            let settingsPath = output + "/frontend.json"
            if FileManager.default.fileExists(atPath: settingsPath) {
                let existing = try? JSONDecoder().decode(FrontEndConfiguration.self, from: Data(readFileBytes(settingsPath)))
                guard existing == configuration else {
                    throw CommandError("'\(settingsPath)' records other front-end settings than these flags give; "
                                       + "pass the same flags as the first run, or choose another -o")
                }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(Array(try encoder.encode(configuration)) + [0x0A], to: output + "/frontend.json")
        }
        let previous = resume ? readManifest(manifestPath) : [:]
        let manifest = try ManifestWriter(path: manifestPath, keeping: previous)
        let shards = format == "shards"
            ? try shardWriter(output: output, k: k, n: n, previous: previous, manifest: manifest) : nil
        let work = Work(files: files, input: input, output: output, toWAV: toWAV, configuration: configuration,
                        vocoder: vocoder, previous: previous, manifest: manifest, shards: shards,
                        clashes: Self.nameClashes(all), sharded: sharded, shardCache: ShardCache(), folders: Folders())
        let summary = try work.run(jobs: jobs, label: toWAV ? "to wav" : "convert")
        print(summary.description(shard: n == 1 ? nil : "\(k)/\(n)", manifest: manifestPath))
        if (strict && summary.failed > 0) || (summary.converted == 0 && summary.skipped == 0) {
            throw CommandError(summary.failed > 0 ? "\(summary.failed) files failed (see \(manifestPath))" : "nothing was converted")
        }
    }

    /// Files whose output name an earlier file (in sorted order) already takes once the
    /// extension is dropped (`a.flac` after `a.aiff`), each mapped to that earlier file.
    /// Found over all files, not one machine's share, so every machine agrees.
    static func nameClashes(_ files: [String]) -> [String: String] {
        var first: [String: String] = [:]
        var clashes: [String: String] = [:]
        for file in files {
            let stem = (file as NSString).deletingPathExtension
            if let taken = first[stem] { clashes[file] = taken } else { first[stem] = file }
        }
        return clashes
    }

    /// The shard writer for this machine's share. Shard files that no manifest line names
    /// (written just before a kill, their lines lost; or, on a fresh run, left without any
    /// manifest) are removed: their clips are redone, so nothing is counted twice.
    func shardWriter(output: String, k: Int, n: Int, previous: [String: String], manifest: ManifestWriter) throws -> ShardWriter {
        let folder = output + "/shards"
        let prefix = Self.shardPrefix(k: k, n: n)
        // By "file" (relative to OUTPUT_DIR), so that a moved folder keeps its shards.
        let referenced = Set(previous.values.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["file"] as? String
        })
        var next = 0
        for (index, name) in ShardWriter.existing(in: folder, prefix: prefix) {
            if referenced.contains("shards/" + name) {
                next = max(next, index + 1)
            } else {
                try FileManager.default.removeItem(atPath: folder + "/" + name)
            }
        }
        return try ShardWriter(folder: folder, prefix: prefix, megabytes: shardSize, manifest: manifest, firstIndex: next)
    }

    // MARK: Sharding

    func parseShard(_ text: String) -> (Int, Int)? {
        let parts = text.split(separator: "/").compactMap { Int($0) }
        guard parts.count == 2, parts[1] >= 1, (0..<parts[1]).contains(parts[0]) else { return nil }
        return (parts[0], parts[1])
    }

    func shardAssignment() throws -> (Int, Int) {
        if let shard { return parseShard(shard)! }
        let environment = ProcessInfo.processInfo.environment
        if let id = environment["SLURM_ARRAY_TASK_ID"].flatMap(Int.init),
           let count = environment["SLURM_ARRAY_TASK_COUNT"].flatMap(Int.init), count >= 1 {
            let k = id - (environment["SLURM_ARRAY_TASK_MIN"].flatMap(Int.init) ?? 0)
            guard (0..<count).contains(k) else {
                throw CommandError("SLURM_ARRAY_TASK_ID \(id) is outside the array's \(count) tasks")
            }
            return (k, count)
        }
        if let index = environment["JOB_COMPLETION_INDEX"].flatMap(Int.init) {
            guard let count = shardCount, (0..<count).contains(index) else {
                throw CommandError("JOB_COMPLETION_INDEX is \(index): pass --shard-count with the Job's completions (> \(index))")
            }
            return (index, count)
        }
        return (0, 1)
    }

    /// FNV-1a of the file's path below INPUT_DIR, mod N: the same on every machine, whatever
    /// the order directories are listed in.
    func shardIndex(of relativePath: String, count: Int) -> Int {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in relativePath.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return Int(hash % UInt64(count))
    }

    // MARK: Files

    /// Temporary files a killed run left behind while writing a file `owned` accepts (by its
    /// path relative to `folder`).
    func removeLeftovers(_ folder: String, owned: (String) -> Bool) {
        for name in FileManager.default.enumerator(atPath: folder)?.compactMap({ $0 as? String }) ?? [] {
            let path = name as NSString
            guard let destination = AtomicFile.destination(ofLeftover: path.lastPathComponent) else { continue }
            let file = path.deletingLastPathComponent.isEmpty ? destination : path.deletingLastPathComponent + "/" + destination
            if owned(file) { try? FileManager.default.removeItem(atPath: folder + "/" + name) }
        }
    }

    /// The output an input becomes, relative to OUTPUT_DIR (.npy features, or WAV files for --to wav).
    static func outputFile(_ relative: String, toWAV: Bool) -> String {
        (relative as NSString).deletingPathExtension + (toWAV ? ".wav" : ".npy")
    }

    /// The name shard files of machine K of N start with.
    static func shardPrefix(k: Int, n: Int) -> String { n == 1 ? "shard" : "shard-\(k)-of-\(n)" }

    /// For --to wav: INPUT_DIR/frontend.json (written by convert), else the flags.
    func featureConfiguration() throws -> FrontEndConfiguration {
        let path = input + "/frontend.json"
        guard FileManager.default.fileExists(atPath: path) else { return frontEnd.configuration }
        do {
            return try JSONDecoder().decode(FrontEndConfiguration.self, from: Data(readFileBytes(path)))
        } catch {
            throw InputError(file: path, problem: "is not a front-end description: \(error)")
        }
    }

    /// Records by source path from a manifest (lines cut short by a kill are ignored).
    /// The features of a folder that `convert --format shards` wrote (after `--merge` when it
    /// was split across machines), by the name a .npy file of them would have: "seven/a.npy"
    /// for the tensor "seven/a" in a shard.
    func shardedFeatures(_ folder: String) throws -> [String: ShardedFeature] {
        let path = folder + "/manifest.jsonl"
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        var features: [String: ShardedFeature] = [:]
        for line in readManifest(path).values {
            guard let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  record["status"] as? String == "converted", let tensor = record["tensor"] as? String,
                  let file = record["file"] as? String else { continue }
            features[tensor + ".npy"] = ShardedFeature(shard: folder + "/" + file, tensor: tensor)
        }
        return features
    }

    func readManifest(_ path: String) -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var records: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let source = object["source"] as? String else { continue }
            records[source] = String(line)
        }
        return records
    }

    func mergeManifests(_ folder: String) throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasPrefix("manifest-") && $0.hasSuffix(".jsonl") }.sorted()
        guard !names.isEmpty else { throw CommandError("'\(folder)' holds no manifest-K-of-N.jsonl files to merge") }
        var records: [String: String] = [:]
        for name in names { records.merge(readManifest(folder + "/" + name)) { _, new in new } }
        let lines = records.keys.sorted().map { records[$0]! }
        try AtomicFile.write(Array((lines.joined(separator: "\n") + "\n").utf8), to: folder + "/manifest.jsonl")
        print("\(folder)/manifest.jsonl: \(lines.count) files from \(names.count) shard manifests")
    }
}

/// Appends manifest lines as files finish, flushed one by one, so that a kill loses at most
/// the line being written (ignored on resume).
final class ManifestWriter: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()

    init(path: String, keeping previous: [String: String]) throws {
        // Start from the lines kept from an earlier run, written atomically, then append.
        let kept = previous.keys.sorted().map { previous[$0]! }
        try AtomicFile.write(Array((kept.isEmpty ? "" : kept.joined(separator: "\n") + "\n").utf8), to: path)
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw FileOutputError.cannotCreate(path: path, reason: "cannot open for appending")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    func append(_ record: [String: Any]) { append([record]) }

    /// Appends the lines in one write, so a shard's clips are recorded together.
    func append(_ records: [[String: Any]]) {
        var data = Data()
        for record in records {
            if let line = CompactJSON.encode(record) {
                data += Data(line.utf8) + Data([0x0A])
            } else if let line = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes]) {
                data += line + Data([0x0A])
            }
        }
        lock.lock()
        defer { lock.unlock() }
        handle.write(data)
    }

    deinit { try? handle.close() }
}

struct Summary {
    var converted = 0, skipped = 0, failed = 0
    var audioSeconds = 0.0
    var seconds = 0.0

    func description(shard: String?, manifest: String) -> String {
        String(format: "%@%d converted, %d skipped (already done), %d failed; %.2f h of audio; %.1f files/s, %.0fx real time; manifest %@",
               shard.map { "shard \($0): " } ?? "", converted, skipped, failed, audioSeconds / 3600,
               Double(converted) / max(seconds, 1e-9), audioSeconds / max(seconds, 1e-9), manifest)
    }
}

/// One conversion job over a list of files, shared among worker threads.
struct Work: @unchecked Sendable {
    let files: [String]
    let input: String
    let output: String
    let toWAV: Bool
    let configuration: FrontEndConfiguration
    let vocoder: VocoderOptions
    let previous: [String: String]
    let manifest: ManifestWriter
    /// Set for --format shards: features go there instead of .npy files.
    let shards: ShardWriter?
    /// Files whose output another file takes (`ConvertCommand.nameClashes`): failed, not overwritten.
    let clashes: [String: String]
    /// For --to wav: the inputs that are tensors in shards, by their relative name.
    let sharded: [String: ShardedFeature]
    let shardCache: ShardCache
    let folders: Folders

    func run(jobs: Int, label: String) throws -> Summary {
        let frontEnd = try MelFrontEnd(configuration)
        let vocoder = toWAV ? try self.vocoder.vocoder(for: configuration) : nil
        let state = Mutex((next: 0, summary: Summary(), done: 0))
        let progress = ProgressBar(total: files.count, label: label, unit: "files")
        let started = Date()
        let shared = UncheckedBox((frontEnd, vocoder, progress))
        // .npy files are made durable on threads of their own while the workers compute on
        // (mostly waiting for the disk: 8 threads wrote 2,190 small files half again as fast as 2).
        let writers = toWAV || shards != nil ? nil : FileWriterPool(threads: 8)
        /// Records a file's outcome: its manifest line, the summary, the progress line.
        @Sendable func complete(_ relative: String, _ source: String, _ record: [String: Any], outcome: String, seconds: Double) {
            var record = record
            record["status"] = outcome
            // A clip queued for a shard gets its line when the shard is written.
            let queued = shards != nil && outcome == "converted"
            if !queued && (outcome != "skipped" || previousRecord(source) == nil) { manifest.append(record) }
            state.withLock { s in
                switch outcome {
                case "converted": s.summary.converted += 1
                case "skipped": s.summary.skipped += 1
                default: s.summary.failed += 1
                }
                s.summary.audioSeconds += seconds
                s.done += 1
                // Under the lock: the progress line is drawn by one thread at a time.
                if outcome == "failed" {
                    shared.value.2.update(s.done, event: "failed: \(relative)")
                } else {
                    shared.value.2.update(s.done)
                }
            }
        }
        DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, files.count))) { _ in
            while true {
                let index = state.withLock { s -> Int in defer { s.next += 1 }; return s.next }
                guard index < files.count else { return }
                let relative = files[index]
                let source = sourceName(relative)
                let file = ConvertCommand.outputFile(relative, toWAV: toWAV)
                let target = output + "/" + file
                let parts = relative.split(separator: "/")
                // "file" is "output" relative to OUTPUT_DIR: it stays valid when the folder moves.
                var record: [String: Any] = ["source": source, "output": target, "file": file,
                                             "label": parts.count > 1 ? String(parts[parts.count - 2]) : ""]
                var outcome = "converted"
                var seconds = 0.0
                if let taken = clashes[relative] {
                    outcome = "failed"
                    record["output"] = nil
                    record["file"] = nil
                    record["error"] = "'\(source)' would have the same output as '\(input)/\(taken)' (names differ only in the extension); rename one of them"
                } else if isDone(source: source, target: target) {
                    outcome = "skipped"
                    record = previousRecord(source) ?? record
                } else {
                    if shards != nil { record["output"] = nil; record["file"] = nil }
                    do {
                        if shards == nil { try folders.make((target as NSString).deletingLastPathComponent) }
                        if toWAV {
                            seconds = try toAudio(relative, target, shared.value.1!, &record)
                        } else {
                            let features: [UInt8]?
                            (seconds, features) = try toFeatures(source, shared.value.0, &record)
                            if let features, let writers {
                                // Recorded by the writer thread, once the file is on disk (or failed).
                                let (done, duration) = (UncheckedBox(record), seconds)
                                writers.submit(features, to: target) { error in
                                    var record = done.value
                                    if let error { record["error"] = "\(error)" }
                                    complete(relative, source, record, outcome: error == nil ? "converted" : "failed", seconds: duration)
                                }
                                continue
                            }
                        }
                    } catch {
                        outcome = "failed"
                        record["error"] = "\(error)"
                    }
                }
                complete(relative, source, record, outcome: outcome, seconds: seconds)
            }
        }
        writers?.finish()
        progress.finish()
        var summary = state.withLock { $0.summary }
        if let shards {
            shards.finish()
            summary.converted -= shards.failedClips
            summary.failed += shards.failedClips
        }
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }

    /// Finished by an earlier run: its .npy exists, or (shards) the manifest says so.
    func isDone(source: String, target: String) -> Bool {
        guard shards != nil else { return FileManager.default.fileExists(atPath: target) }
        return previousRecord(source)?["status"] as? String == "converted"
    }

    func previousRecord(_ source: String) -> [String: Any]? {
        previous[source].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// The clip's duration, and the bytes of its .npy file (nil: it went to a shard).
    func toFeatures(_ source: String, _ frontEnd: MelFrontEnd, _ record: inout [String: Any]) throws -> (Double, [UInt8]?) {
        // Read in blocks: an hour-long file costs a block of audio, not the hour.
        let reader = try AudioReader(path: source, sampleRate: configuration.sampleRate)
        var samples = 0
        let features = try frontEnd.features(streaming: {
            let block = try reader.read(maxFrames: 1 << 16)
            samples += block.count
            return block
        })
        let duration = Double(samples) / Double(configuration.sampleRate)
        record["frames"] = features.frames
        record["duration"] = duration
        record["sample_rate"] = reader.info.sampleRate
        guard let shards else {
            return (duration, NPY.encode(NumPyArray(shape: [features.bins, features.frames], values: features.values)))
        }
        let name = String(source.dropFirst(input.count + 1))
        shards.add(name: (name as NSString).deletingPathExtension, shape: [features.bins, features.frames],
                   values: features.values, record: record)
        return (duration, nil)
    }

    /// An input's name in the manifest and in errors: its path, or for features in a shard
    /// "SHARD:TENSOR".
    func sourceName(_ relative: String) -> String {
        sharded[relative].map { $0.shard + ":" + $0.tensor } ?? input + "/" + relative
    }

    func toAudio(_ relative: String, _ target: String, _ vocoder: Vocoder, _ record: inout [String: Any]) throws -> Double {
        let source = sourceName(relative)
        let array = try sharded[relative].map(shardCache.array) ?? NPY.read(source, float32Only: true)
        guard array.shape.count == 2, array.shape[0] == configuration.nMels else {
            throw InputError(file: source, problem: "has shape \(array.shape); expected [\(configuration.nMels), frames]")
        }
        let magnitude = try vocoder.magnitude(fromMel: vocoder.melSpectrogram(
            fromFeatures: Spectrogram(bins: array.shape[0], frames: array.shape[1], values: array.values)))
        let result = try vocoder.griffinLim.reconstruct(magnitude)
        try AudioFile.write(result.samples, sampleRate: configuration.sampleRate, to: target)
        let duration = Double(result.samples.count) / Double(configuration.sampleRate)
        record["frames"] = array.shape[1]
        record["duration"] = duration
        record["sample_rate"] = configuration.sampleRate
        return duration
    }
}

/// A value the workers share; they touch only thread-safe parts of it.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The output folders made (or found) so far: one mkdir per folder, not one per file.
final class Folders: Sendable {
    private let made = Mutex(Set<String>())

    func make(_ folder: String) throws {
        guard !made.withLock({ $0.contains(folder) }) else { return }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        made.withLock { _ = $0.insert(folder) }
    }
}

/// A clip's features inside a shard written by `convert --format shards`.
struct ShardedFeature: Sendable {
    var shard: String
    var tensor: String
}

/// The last shards read, so that the clips of one shard are vocoded without reading it again
/// for each (at most two held: a shard is up to --shard-size megabytes).
final class ShardCache: Sendable {
    private let shards = Mutex<[(path: String, tensors: [String: NamedTensor])]>([])

    func array(_ feature: ShardedFeature) throws -> NumPyArray {
        let cached = shards.withLock { $0.first { $0.path == feature.shard }?.tensors }
        let tensors = try cached ?? {
            let read = Dictionary(try SafeTensors.read(feature.shard).tensors.map { ($0.name, $0) }) { first, _ in first }
            shards.withLock { list in
                list.removeAll { $0.path == feature.shard }
                list.insert((feature.shard, read), at: 0)
                if list.count > 2 { list.removeLast() }
            }
            return read
        }()
        guard let tensor = tensors[feature.tensor] else {
            throw InputError(file: feature.shard, problem: "has no tensor '\(feature.tensor)' although its manifest lists it")
        }
        return NumPyArray(shape: tensor.shape, values: tensor.values)
    }
}
