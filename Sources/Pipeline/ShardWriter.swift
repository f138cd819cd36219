import FileFormats
import Foundation

/// `convert --format shards`: features gathered into safetensors files of about a given size,
/// so that training reads a few large files instead of one small file per clip.
///
/// Each clip is one tensor `[n_mels, frames]` named by its path below INPUT_DIR without the
/// extension. A clip's data goes to its shard's (still unnamed) file as soon as it is computed,
/// and the disk starts writing it while the workers go on (`SafeTensorsWriter`), so no shard
/// is held in memory and the last shard's flush is all that remains at the end. A full shard
/// is committed on a queue of its own while the workers fill the next. A clip's manifest
/// line (naming the shard and the tensor) is written only after its shard is on disk, so the
/// manifest is the shards' JSONL index and a resumed run redoes exactly the clips whose shard
/// never landed.
final class ShardWriter: @unchecked Sendable {
    /// Shard files are PREFIX-NNNNN.safetensors; PREFIX tells machines (--shard K/N) apart.
    let folder: String
    let prefix: String
    private let byteLimit: Int
    private let manifest: ManifestWriter
    private let lock = NSLock()
    /// The shard being filled, under `lock`.
    private var current: Shard?
    private var nextIndex: Int
    private var failed = 0
    /// Commits full shards, one at a time, while the workers fill the next.
    private let committer = DispatchQueue(label: "melforge.convert.shards")

    /// Clips whose shard could not be written (recorded as failed); final after `finish`.
    var failedClips: Int { lock.withLock { failed } }

    /// Filled under `lock`, then handed whole to the committer: never used by two threads at once.
    private final class Shard: @unchecked Sendable {
        let index: Int
        let file: SafeTensorsWriter
        var clips: [(tensor: String, record: ManifestRecord)] = []

        init(index: Int, file: SafeTensorsWriter) {
            self.index = index
            self.file = file
        }
    }

    init(folder: String, prefix: String, megabytes: Double, manifest: ManifestWriter, firstIndex: Int) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        self.folder = folder
        self.prefix = prefix
        self.byteLimit = max(1, Int(megabytes * 1_000_000))
        self.manifest = manifest
        self.nextIndex = firstIndex
    }

    static func fileName(prefix: String, index: Int) -> String {
        prefix + "-" + String(format: "%05d", index) + ".safetensors"
    }

    /// Shard files of this prefix already in `folder`, by index (regular files only: this
    /// list is what a run may delete).
    static func existing(in folder: String, prefix: String) -> [Int: String] {
        var found: [Int: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        where !isDirectory(folder + "/" + name) {
            if let index = index(ofFile: name, prefix: prefix) { found[index] = name }
        }
        return found
    }

    /// The index of shard file `name` (PREFIX-NNNNN.safetensors), or nil if it is not one of PREFIX's.
    static func index(ofFile name: String, prefix: String) -> Int? {
        guard name.hasPrefix(prefix + "-") && name.hasSuffix(".safetensors") else { return nil }
        let digits = name.dropFirst(prefix.count + 1).dropLast(".safetensors".count)
        return digits.count == 5 && digits.allSatisfy({ $0.isASCII && $0.isNumber }) ? Int(digits) : nil
    }

    static let metadata = ["format": "melforge log-mel shard"]

    /// Writes one clip into the current shard, starting a new shard when the current one is
    /// full. A clip that cannot be written is recorded failed with the reason; a shard whose
    /// file failed marks every clip in it failed.
    func add(name: String, shape: [Int], values: [Float], record: ManifestRecord) {
        var full: [Shard] = []
        var broken: Shard?
        var failure: Error?
        lock.withLock {
            do {
                if let shard = current {
                    if try append(name, shape, values, record, to: shard) {
                        if shard.file.dataBytes >= byteLimit { full.append(shard); current = nil }
                        return
                    }
                    full.append(shard)  // its header space is used up
                    current = nil
                }
                let shard = try newShard(sizedFor: name, shape: shape, count: values.count)
                current = shard
                guard try append(name, shape, values, record, to: shard) else {
                    preconditionFailure("a new shard's header has room for the clip it was sized for")
                }
                if shard.file.dataBytes >= byteLimit { full.append(shard); current = nil }
            } catch {
                failure = error
                if error is FileOutputError, let shard = current {
                    broken = shard
                    current = nil
                }
            }
        }
        for shard in full { committer.async { self.commit(shard) } }
        if let failure {
            if let broken { committer.async { self.fail(broken, failure) } }
            fail(clips: [record], failure)
        }
    }

    /// Commits the shard being filled and waits until every shard is on disk.
    func finish() {
        if let shard = lock.withLock({ () -> Shard? in defer { current = nil }; return current }) {
            committer.async { self.commit(shard) }
        }
        committer.sync {}
    }

    private func append(_ name: String, _ shape: [Int], _ values: [Float], _ record: ManifestRecord,
                        to shard: Shard) throws -> Bool {
        guard try shard.file.append(name: name, shape: shape, values: values) else { return false }
        shard.clips.append((name, record))
        return true
    }

    /// A shard with header room for as many clips like this one as fit the size limit (names
    /// up to half as long again; a shard whose header fills first is simply smaller).
    private func newShard(sizedFor name: String, shape: [Int], count: Int) throws -> Shard {
        let clips = byteLimit / max(1, 4 * count) + 1
        let entry = SafeTensorsWriter.entryLength(name: name, shape: shape, dataEnd: byteLimit)
        let reserved = min(16 << 20, 64 + clips * (entry * 3 / 2 + 16))
        let path = folder + "/" + Self.fileName(prefix: prefix, index: nextIndex)
        nextIndex += 1
        let file = try SafeTensorsWriter(path: path, reservedHeaderBytes: max(4096, reserved), metadata: Self.metadata)
        return Shard(index: nextIndex - 1, file: file)
    }

    private func commit(_ shard: Shard) {
        let name = Self.fileName(prefix: prefix, index: shard.index)
        do {
            try shard.file.commit()
        } catch {
            fail(shard, error)
            return
        }
        manifest.append(shard.clips.map { tensor, record in
            var done = record
            done.output = shard.file.path
            done.file = "shards/" + name
            done.tensor = tensor
            done.status = .converted
            return done
        })
    }

    private func fail(_ shard: Shard, _ error: Error) {
        shard.file.discard()
        fail(clips: shard.clips.map(\.record), error)
    }

    private func fail(clips records: [ManifestRecord], _ error: Error) {
        manifest.append(records.map { record in
            var failed = record
            failed.status = .failed
            failed.error = "\(error)"
            return failed
        })
        lock.withLock { failed += records.count }
        FileHandle.standardError.write(Data("melforge convert: \(error)\n".utf8))
    }
}
