import AudioIO
import Dispatch
import FileFormats
import Foundation
import Spectral
import Synchronization
import WorkerPool

/// `melforge convert`: folders of clips to training-ready features (and back), on all cores,
/// resumable, and split deterministically across machines.
///
/// Every input below `input` becomes `output/<same path>.npy` (or a tensor in a shard, or a
/// WAV file for `.audio`); `manifest.jsonl` (`manifest-K-of-N.jsonl` for a share) records
/// one `ManifestRecord` per input; bad inputs are recorded and skipped. Outputs are atomic,
/// and a resumed job redoes nothing that finished.
public struct Conversion {
    public enum FeatureFormat: String, CaseIterable, Sendable {
        /// One .npy per clip, mirroring the input folder.
        case npy
        /// Safetensors files under OUTPUT_DIR/shards, one tensor per clip, the manifest as their index.
        case shards
    }

    public enum Direction {
        /// Audio files to log-mel features made by `frontEnd`.
        case features(frontEnd: FrontEndConfiguration, format: FeatureFormat, shardMegabytes: Double)
        /// Features (.npy files, or the shards of `.shards`) to WAV files through `vocoder`,
        /// made for the features' front end (`featureFrontEnd(input:fallback:)` finds it).
        case audio(vocoder: any Vocoder)
    }

    public var input: String
    public var output: String
    public var direction: Direction
    /// This machine's share.
    public var share = Share.whole
    public var resume = false
    /// How the inputs' labels and speakers are named (recorded in the manifest); an input it
    /// does not match is recorded as failed, saying so, and not converted.
    public var naming = ClipNaming.folders

    public init(input: String, output: String, direction: Direction) {
        self.input = input
        self.output = output
        self.direction = direction
    }

    /// The front end of features in `input`: its frontend.json (written by a conversion),
    /// else `fallback` (the flags).
    public static func featureFrontEnd(input: String, fallback: FrontEndConfiguration) throws -> FrontEndConfiguration {
        let path = input + "/frontend.json"
        guard FileManager.default.fileExists(atPath: path) else { return fallback }
        return try readFrontEndDescription(path)
    }

    var manifestName: String { share.count == 1 ? "manifest.jsonl" : "manifest-\(share.index)-of-\(share.count).jsonl" }
    public var manifestPath: String { output + "/" + manifestName }

    /// Runs the job on `Workers.count` threads, with a progress line on standard error.
    public func run() throws -> ConversionSummary {
        guard isDirectory(input) else { throw UsageError("'\(input)' is not a folder") }
        if FileManager.default.fileExists(atPath: manifestPath) && !resume {
            throw UsageError("'\(output)' already holds \(manifestName); pass --resume to finish that job, or choose another -o")
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        // One writer per output folder, or per share of a job split across machines.
        try OutputLock.hold(OutputLock.file(inFolder: output, name: share.count == 1 ? "melforge-convert"
                                                : "melforge-convert-\(share.index)-of-\(share.count)"),
                            for: output, command: OutputLock.thisCommand)

        let toWAV: Bool
        let configuration: FrontEndConfiguration
        /// Set when features go to shards.
        let shardMegabytes: Double?
        switch direction {
        case .features(let frontEnd, let format, let megabytes):
            (toWAV, configuration, shardMegabytes) = (false, frontEnd, format == .shards ? megabytes : nil)
        case .audio(let vocoder):
            (toWAV, configuration, shardMegabytes) = (true, vocoder.configuration, nil)
        }
        // For features back to audio, features in shards count as files named after their tensors.
        let sharded = toWAV ? shardedFeatures() : [:]
        let all = (listFiles(input, extensions: toWAV ? ["npy"] : audioFileExtensions) + sharded.keys).sorted()
        let files = all.filter { share.contains($0) }
        if resume {
            // This machine's temporary files only: under --shard K/N the other machines may be
            // writing theirs into the same folder right now.
            let own = Set(files.map { Self.outputFile($0, toWAV: toWAV) } + [manifestName]
                          + (share.count == 1 ? ["frontend.json"] : []))
            let prefix = share.shardFilePrefix
            removeLeftovers { file in
                own.contains(file) || (file.hasPrefix("shards/")
                    && ShardWriter.index(ofFile: String(file.dropFirst("shards/".count)), prefix: prefix) != nil)
            }
        }
        if !toWAV { try recordFrontEnd(configuration) }
        let previous = resume ? Manifest.read(manifestPath) : [:]
        let manifest = try ManifestWriter(path: manifestPath, keeping: previous.mapValues(\.line))
        let shards = try shardMegabytes.map { try shardWriter(megabytes: $0, previous: previous, manifest: manifest) }
        let vocoder: (any Vocoder)? = if case .audio(let vocoder) = direction { vocoder } else { nil }
        let work = ConversionWork(
            files: files, input: input, output: output, configuration: configuration, vocoder: vocoder,
            previous: previous.mapValues(\.record), manifest: manifest, shards: shards, clashes: Self.nameClashes(all),
            sharded: sharded, shardCache: ShardCache(), folders: Folders(), naming: naming)
        return try work.run(jobs: Workers.count, label: toWAV ? "to wav" : "convert")
    }

    /// Features already in the folder were made with these settings: a resume (or another
    /// machine's share) with other flags would mix two kinds of features in one folder.
    func recordFrontEnd(_ configuration: FrontEndConfiguration) throws {
        let settingsPath = output + "/frontend.json"
        if FileManager.default.fileExists(atPath: settingsPath) {
            let existing = try? JSONDecoder().decode(FrontEndConfiguration.self, from: Data(readFileBytes(settingsPath)))
            guard existing == configuration else {
                throw UsageError("'\(settingsPath)' records other front-end settings than these flags give; "
                                 + "pass the same flags as the first run, or choose another -o")
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(configuration)) + [0x0A], to: settingsPath)
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
    func shardWriter(megabytes: Double, previous: [String: (record: ManifestRecord, line: String)],
                     manifest: ManifestWriter) throws -> ShardWriter {
        let folder = output + "/shards"
        let prefix = share.shardFilePrefix
        // By "file" (relative to OUTPUT_DIR), so that a moved folder keeps its shards.
        let referenced = Set(previous.records.compactMap(\.file))
        var next = 0
        for (index, name) in ShardWriter.existing(in: folder, prefix: prefix) {
            if referenced.contains("shards/" + name) {
                next = max(next, index + 1)
            } else {
                try FileManager.default.removeItem(atPath: folder + "/" + name)
            }
        }
        return try ShardWriter(folder: folder, prefix: prefix, megabytes: megabytes, manifest: manifest, firstIndex: next)
    }

    /// Temporary files a killed run left behind while writing a file `owned` accepts (by its
    /// path relative to OUTPUT_DIR).
    func removeLeftovers(owned: (String) -> Bool) {
        for name in FileManager.default.enumerator(atPath: output)?.compactMap({ $0 as? String }) ?? [] {
            let path = name as NSString
            guard let destination = AtomicFile.destination(ofLeftover: path.lastPathComponent) else { continue }
            let file = path.deletingLastPathComponent.isEmpty ? destination : path.deletingLastPathComponent + "/" + destination
            if owned(file) { try? FileManager.default.removeItem(atPath: output + "/" + name) }
        }
    }

    /// The output an input becomes, relative to OUTPUT_DIR (.npy features, or WAV files).
    static func outputFile(_ relative: String, toWAV: Bool) -> String {
        (relative as NSString).deletingPathExtension + (toWAV ? ".wav" : ".npy")
    }

    /// The features of a folder that a conversion to shards wrote (after `Manifest.merge`
    /// when it was split across machines), by the name a .npy file of them would have:
    /// "seven/a.npy" for the tensor "seven/a" in a shard.
    func shardedFeatures() -> [String: ShardedFeature] {
        let path = input + "/manifest.jsonl"
        var features: [String: ShardedFeature] = [:]
        for record in Manifest.read(path).records where record.status == .converted {
            guard let tensor = record.tensor, let file = record.file else { continue }
            features[tensor + ".npy"] = ShardedFeature(shard: input + "/" + file, tensor: tensor)
        }
        return features
    }
}

/// A machine's share of a conversion: file f belongs to share `index` of `count` when a hash
/// of its path below the input folder, mod `count`, is `index`.
public struct Share: Equatable, Sendable {
    public var index: Int
    public var count: Int

    public static let whole = Share(index: 0, count: 1)

    public init(index: Int, count: Int) {
        precondition(count >= 1 && (0..<count).contains(index), "Share: \(index) of \(count)")
        self.index = index
        self.count = count
    }

    /// "K/N" with 0 <= K < N; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "/").compactMap { Int($0) }
        guard parts.count == 2, parts[1] >= 1, (0..<parts[1]).contains(parts[0]) else { return nil }
        self.init(index: parts[0], count: parts[1])
    }

    /// From a Slurm job array (SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN, of
    /// SLURM_ARRAY_TASK_COUNT), or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, of
    /// `indexedJobCount`); else the whole job.
    public static func fromScheduler(_ environment: [String: String], indexedJobCount: Int?) throws -> Share {
        if let id = environment["SLURM_ARRAY_TASK_ID"].flatMap(Int.init),
           let count = environment["SLURM_ARRAY_TASK_COUNT"].flatMap(Int.init), count >= 1 {
            let k = id - (environment["SLURM_ARRAY_TASK_MIN"].flatMap(Int.init) ?? 0)
            guard (0..<count).contains(k) else {
                throw UsageError("SLURM_ARRAY_TASK_ID \(id) is outside the array's \(count) tasks")
            }
            return Share(index: k, count: count)
        }
        if let index = environment["JOB_COMPLETION_INDEX"].flatMap(Int.init) {
            guard let count = indexedJobCount, (0..<count).contains(index) else {
                throw UsageError("JOB_COMPLETION_INDEX is \(index): pass --shard-count with the Job's completions (> \(index))")
            }
            return Share(index: index, count: count)
        }
        return .whole
    }

    /// Whether the file at `relativePath` (below the input folder) is this share's: FNV-1a of
    /// the path mod `count`, the same on every machine whatever the order folders are listed in.
    public func contains(_ relativePath: String) -> Bool {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in relativePath.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return Int(hash % UInt64(count)) == index
    }

    /// The name this share's shard files start with.
    var shardFilePrefix: String { count == 1 ? "shard" : "shard-\(index)-of-\(count)" }

    /// "K/N", or nil for the whole job.
    public var label: String? { count == 1 ? nil : "\(index)/\(count)" }
}

/// What a conversion did.
public struct ConversionSummary: Sendable {
    public var converted = 0, skipped = 0, failed = 0

    /// The job's failure, if it is one: nothing converted, or (`strict`) any file failed.
    public func failure(strict: Bool, manifest: String) -> UsageError? {
        guard (strict && failed > 0) || (converted == 0 && skipped == 0) else { return nil }
        return UsageError(failed > 0 ? "\(failed) files failed (see \(manifest))" : "nothing was converted")
    }
    public var audioSeconds = 0.0
    public var seconds = 0.0

    public func description(share: String?, manifest: String) -> String {
        String(format: "%@%d converted, %d skipped (already done), %d failed; %.2f h of audio; %.1f files/s, %.0fx real time; manifest %@",
               share.map { "shard \($0): " } ?? "", converted, skipped, failed, audioSeconds / 3600,
               Double(converted) / max(seconds, 1e-9), audioSeconds / max(seconds, 1e-9), manifest)
    }
}

/// One conversion job over a list of files, shared among worker threads.
struct ConversionWork: @unchecked Sendable {
    let files: [String]
    let input: String
    let output: String
    let configuration: FrontEndConfiguration
    /// Set for features back to audio.
    let vocoder: (any Vocoder)?
    let previous: [String: ManifestRecord]
    let manifest: ManifestWriter
    /// Set for shards: features go there instead of .npy files.
    let shards: ShardWriter?
    /// Files whose output another file takes (`Conversion.nameClashes`): failed, not overwritten.
    let clashes: [String: String]
    /// For features back to audio: the inputs that are tensors in shards, by their relative name.
    let sharded: [String: ShardedFeature]
    let shardCache: ShardCache
    let folders: Folders
    let naming: ClipNaming

    var toWAV: Bool { vocoder != nil }

    func run(jobs: Int, label: String) throws -> ConversionSummary {
        let frontEnd = try MelFrontEnd(configuration)
        let state = Mutex((next: 0, summary: ConversionSummary(), done: 0))
        let progress = ProgressBar(total: files.count, label: label, unit: "files")
        let started = Date()
        let shared = UncheckedBox((frontEnd, progress))
        // .npy files are made durable on threads of their own while the workers compute on
        // (mostly waiting for the disk: 8 threads wrote 2,190 small files half again as fast as 2).
        let writers = toWAV || shards != nil ? nil : FileWriterPool(threads: 8)
        /// Records a file's outcome: its manifest line, the summary, the progress line.
        @Sendable func complete(_ relative: String, _ record: ManifestRecord, seconds: Double) {
            // A clip queued for a shard gets its line when the shard is written.
            let queued = shards != nil && record.status == .converted
            if !queued && (record.status != .skipped || previous[record.source] == nil) { manifest.append(record) }
            state.withLock { s in
                switch record.status {
                case .converted: s.summary.converted += 1
                case .skipped: s.summary.skipped += 1
                case .failed: s.summary.failed += 1
                }
                s.summary.audioSeconds += seconds
                s.done += 1
                // Under the lock: the progress line is drawn by one thread at a time.
                if record.status == .failed {
                    shared.value.1.update(s.done, event: "failed: \(relative)")
                } else {
                    shared.value.1.update(s.done)
                }
            }
        }
        DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, files.count))) { _ in
            while true {
                // Asked to stop (SIGTERM, SIGINT): the files in hand are finished, no new one started.
                guard Preemption.requested == nil else { return }
                let index = state.withLock { s -> Int in defer { s.next += 1 }; return s.next }
                guard index < files.count else { return }
                let relative = files[index]
                let source = sourceName(relative)
                let file = Conversion.outputFile(relative, toWAV: toWAV)
                let target = output + "/" + file
                let described = naming.describe(relative)
                var record = ManifestRecord(source: source, output: target, file: file, label: described?.label ?? "")
                record.speaker = described?.speaker
                var seconds = 0.0
                if described == nil {
                    record.status = .failed
                    (record.output, record.file) = (nil, nil)
                    record.error = naming.mismatch(relative)
                } else if let taken = clashes[relative] {
                    record.status = .failed
                    (record.output, record.file) = (nil, nil)
                    record.error = "'\(source)' would have the same output as '\(input)/\(taken)' (names differ only in the extension); rename one of them"
                } else if isDone(source: source, target: target) {
                    record = previous[source] ?? record
                    record.status = .skipped
                } else {
                    if shards != nil { (record.output, record.file) = (nil, nil) }
                    do {
                        if shards == nil { try folders.make((target as NSString).deletingLastPathComponent) }
                        if let vocoder {
                            seconds = try toAudio(relative, target, vocoder, &record)
                        } else {
                            let features: [UInt8]?
                            (seconds, features) = try toFeatures(source, shared.value.0, &record)
                            if let features, let writers {
                                // Recorded by the writer thread, once the file is on disk (or failed).
                                let (done, duration) = (record, seconds)
                                writers.submit(features, to: target) { error in
                                    var record = done
                                    if let error {
                                        record.status = .failed
                                        record.error = "\(error)"
                                    }
                                    complete(relative, record, seconds: duration)
                                }
                                continue
                            }
                        }
                    } catch {
                        record.status = .failed
                        record.error = "\(error)"
                    }
                }
                complete(relative, record, seconds: seconds)
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
        let handled = summary.converted + summary.skipped + summary.failed
        if let stop = Preemption.requested, handled < files.count {
            throw Preempted(signal: stop, kept: "\(handled) of \(files.count) files done and recorded in '\(manifest.path)'",
                            resume: "run the same command with --resume")
        }
        return summary
    }

    /// Finished by an earlier run: its .npy exists, or (shards) the manifest says so.
    func isDone(source: String, target: String) -> Bool {
        guard shards != nil else { return FileManager.default.fileExists(atPath: target) }
        return previous[source]?.status == .converted
    }

    /// The clip's duration, and the bytes of its .npy file (nil: it went to a shard).
    func toFeatures(_ source: String, _ frontEnd: MelFrontEnd, _ record: inout ManifestRecord) throws -> (Double, [UInt8]?) {
        // Read in blocks: an hour-long file costs a block of audio, not the hour.
        let reader = try AudioReader(path: source, sampleRate: configuration.sampleRate)
        var samples = 0
        let features = try frontEnd.features(streaming: {
            let block = try reader.read(maxFrames: 1 << 16)
            samples += block.count
            return block
        })
        let duration = Double(samples) / Double(configuration.sampleRate)
        record.frames = features.frames
        record.duration = duration
        record.sampleRate = reader.info.sampleRate
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

    func toAudio(_ relative: String, _ target: String, _ vocoder: any Vocoder, _ record: inout ManifestRecord) throws -> Double {
        let source = sourceName(relative)
        let array = try sharded[relative].map(shardCache.array) ?? NPY.read(source, float32Only: true)
        guard array.shape.count == 2, array.shape[0] == configuration.nMels else {
            throw InputError(file: source, problem: "has shape \(array.shape); expected [\(configuration.nMels), frames]")
        }
        let clip = try vocoder.synthesize(Spectrogram(bins: array.shape[0], frames: array.shape[1], values: array.values),
                                          normalization: nil, length: nil)
        try AudioFile.write(clip.samples, sampleRate: configuration.sampleRate, to: target)
        let duration = Double(clip.samples.count) / Double(configuration.sampleRate)
        record.frames = array.shape[1]
        record.duration = duration
        record.sampleRate = configuration.sampleRate
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

/// A clip's features inside a shard written by a conversion to shards.
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
