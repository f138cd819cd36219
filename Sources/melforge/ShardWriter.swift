import FileFormats
import Foundation

/// `convert --format shards`: features gathered into safetensors files of about a given size,
/// so that training reads a few large files instead of one small file per clip.
///
/// Each clip is one tensor `[n_mels, frames]` named by its path below INPUT_DIR without the
/// extension. A clip's manifest line (naming the shard and the tensor) is written only after
/// its shard is on disk, so the manifest is the shards' JSONL index and a resumed run redoes
/// exactly the clips whose shard never landed.
final class ShardWriter: @unchecked Sendable {
    /// Shard files are PREFIX-NNNNN.safetensors; PREFIX tells machines (--shard K/N) apart.
    let folder: String
    let prefix: String
    private let byteLimit: Int
    private let manifest: ManifestWriter
    private let lock = NSLock()
    private var pending: [Clip] = []
    private var pendingBytes = 0
    private var nextIndex: Int
    /// Clips that were queued but whose shard could not be written (recorded as failed).
    private(set) var failedClips = 0

    private typealias Clip = (tensor: NamedTensor, record: [String: Any])
    private typealias Batch = (index: Int, clips: [Clip])

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
        where name.hasPrefix(prefix + "-") && name.hasSuffix(".safetensors") && !isDirectory(folder + "/" + name) {
            let digits = name.dropFirst(prefix.count + 1).dropLast(".safetensors".count)
            if digits.count == 5, let index = Int(digits) { found[index] = name }
        }
        return found
    }

    /// Queues one clip; writes a shard when the queue reaches the size limit. A shard that
    /// cannot be written marks every clip in it failed in the manifest, with the reason.
    func add(name: String, shape: [Int], values: [Float], record: [String: Any]) {
        let batch: Batch? = lock.withLock {
            pending.append((NamedTensor(name: name, shape: shape, values: values), record))
            pendingBytes += 4 * values.count
            return pendingBytes >= byteLimit ? takeBatch() : nil
        }
        if let batch { write(batch) }
    }

    /// Writes whatever is queued.
    func finish() {
        if let batch = lock.withLock({ pending.isEmpty ? nil : takeBatch() }) { write(batch) }
    }

    private func takeBatch() -> Batch {
        defer { pending = []; pendingBytes = 0; nextIndex += 1 }
        return (nextIndex, pending)
    }

    private func write(_ batch: Batch) {
        let path = folder + "/" + Self.fileName(prefix: prefix, index: batch.index)
        do {
            try SafeTensors(tensors: batch.clips.map(\.tensor), metadata: ["format": "melforge log-mel shard"]).write(to: path)
        } catch {
            manifest.append(batch.clips.map { _, record in
                var failed = record
                failed["status"] = "failed"
                failed["error"] = "\(error)"
                return failed
            })
            lock.withLock { failedClips += batch.clips.count }
            FileHandle.standardError.write(Data("melforge convert: \(error)\n".utf8))
            return
        }
        manifest.append(batch.clips.map { tensor, record in
            var done = record
            done["output"] = path
            done["file"] = "shards/" + Self.fileName(prefix: prefix, index: batch.index)
            done["tensor"] = tensor.name
            done["status"] = "converted"
            return done
        })
    }
}
