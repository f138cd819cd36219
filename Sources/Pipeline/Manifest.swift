import FileFormats
import Foundation

/// One line of a conversion's manifest.jsonl: what became of one input file.
///
/// The JSON keys are snake_case and sorted; numbers are written as `CompactJSON` writes them,
/// so that lines stay byte for byte what earlier versions wrote.
public struct ManifestRecord: Codable, Equatable, Sendable {
    public enum Status: String, Codable, Sendable {
        case converted, skipped, failed
    }

    /// The input: its path, or for features in a shard "SHARD:TENSOR".
    public var source: String
    /// The output's path as given on the command line.
    public var output: String?
    /// The output's path inside OUTPUT_DIR: valid after the folder moves.
    public var file: String?
    /// The input's class: its parent folder, or what the job's `ClipNaming` read in its name.
    public var label: String
    /// The input's speaker, when the job's naming gives speakers.
    public var speaker: String?
    public var status: Status
    public var error: String?
    /// Frames of the features (made or read).
    public var frames: Int?
    /// Seconds of audio.
    public var duration: Double?
    /// The input's sample rate (features: the original file's; audio: the output's).
    public var sampleRate: Int?
    /// For a clip in a shard: its tensor's name there.
    public var tensor: String?

    enum CodingKeys: String, CodingKey {
        case source, output, file, label, speaker, status, error, frames, duration, tensor
        case sampleRate = "sample_rate"
    }

    public init(source: String, output: String?, file: String?, label: String, status: Status = .converted) {
        self.source = source
        self.output = output
        self.file = file
        self.label = label
        self.status = status
    }

    /// The record from one manifest line; nil for a line cut short by a kill or not a record.
    public init?(line: some StringProtocol) {
        guard let record = try? JSONDecoder().decode(ManifestRecord.self, from: Data(line.utf8)) else { return nil }
        self = record
    }

    /// One line of JSON, without the newline.
    public var line: String {
        var object: [String: Any] = ["source": source, "label": label, "status": status.rawValue]
        object["speaker"] = speaker
        object["output"] = output
        object["file"] = file
        object["error"] = error
        object["frames"] = frames
        object["duration"] = duration
        object["sample_rate"] = sampleRate
        object["tensor"] = tensor
        // Only strings, whole numbers and finite durations: CompactJSON takes them all.
        return CompactJSON.encode(object)!
    }
}

/// Reading manifests, and joining the manifests of a job split across machines.
public enum Manifest {
    /// The records of a manifest by source (lines cut short by a kill are ignored; a later
    /// line for the same source wins), with their lines as written.
    public static func read(_ path: String) -> [String: (record: ManifestRecord, line: String)] {
        var records: [String: (ManifestRecord, String)] = [:]
        for line in readLines(path) {
            guard let record = ManifestRecord(line: line) else { continue }
            records[record.source] = (record, line)
        }
        return records
    }

    /// Joins `folder`'s manifest-K-of-N.jsonl files into manifest.jsonl (sorted by source);
    /// returns how many records from how many manifests.
    @discardableResult
    public static func merge(_ folder: String) throws -> (records: Int, manifests: Int) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasPrefix("manifest-") && $0.hasSuffix(".jsonl") }.sorted()
        guard !names.isEmpty else { throw UsageError("'\(folder)' holds no manifest-K-of-N.jsonl files to merge") }
        var lines: [String: String] = [:]
        for name in names { lines.merge(read(folder + "/" + name).mapValues(\.line)) { _, new in new } }
        let sorted = lines.keys.sorted().map { lines[$0]! }
        try AtomicFile.write(Array((sorted.joined(separator: "\n") + "\n").utf8), to: folder + "/manifest.jsonl")
        return (sorted.count, names.count)
    }
}

extension Dictionary where Value == (record: ManifestRecord, line: String) {
    /// Just the records.
    var records: [ManifestRecord] { map(\.value.record) }
}

/// Appends manifest lines as files finish, flushed one by one, so that a kill loses at most
/// the line being written (ignored on resume).
final class ManifestWriter: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()
    let path: String

    /// Starts from the lines kept from an earlier run (by source), written atomically.
    init(path: String, keeping previous: [String: String]) throws {
        self.path = path
        let kept = previous.keys.sorted().map { previous[$0]! }
        try AtomicFile.write(Array((kept.isEmpty ? "" : kept.joined(separator: "\n") + "\n").utf8), to: path)
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw FileOutputError.cannotCreate(path: path, reason: "cannot open for appending")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    func append(_ record: ManifestRecord) { append([record]) }

    /// Appends the lines in one write, so a shard's clips are recorded together.
    func append(_ records: [ManifestRecord]) {
        let data = Data(records.map { $0.line + "\n" }.joined().utf8)
        lock.withLock { handle.write(data) }
    }

    deinit { try? handle.close() }
}
