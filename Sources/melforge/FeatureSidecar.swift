import AudioIO
import FileFormats
import Foundation
import Spectral

/// The JSON written beside a feature array: how it was made, so it can be checked
/// against a model's expectations and its scaling undone.
struct FeatureSidecar: Codable, Equatable {
    struct Source: Codable, Equatable {
        var path: String
        var sampleRate: Int
        var channels: Int
        var frames: Int
        var container: String
        var encoding: String
        var replacedNonFiniteSamples: Int

        init(clip: AudioClip, path: String) {
            self.path = path
            sampleRate = clip.source.sampleRate
            channels = clip.source.channels
            frames = clip.source.frames
            container = clip.source.container
            encoding = clip.source.encoding
            replacedNonFiniteSamples = clip.replacedSamples
        }
    }

    var format = "melforge-features/1"
    /// Orientation of the array: always [bins, frames].
    var layout = "[n_mels, frames]"
    var frontEnd: FrontEndConfiguration
    var normalization: LogMelNormalization?
    /// Samples (at the front end's rate) the features were computed from, so that a
    /// vocoder can give back a signal of the same length.
    var samples: Int?
    var source: Source?

    /// `out/clip.npy` -> `out/clip.json`.
    static func path(forArray arrayPath: String) -> String {
        (arrayPath.hasSuffix(".npy") ? String(arrayPath.dropLast(4)) : arrayPath) + ".json"
    }

    static func read(_ path: String) throws -> FeatureSidecar {
        do {
            return try JSONDecoder().decode(FeatureSidecar.self, from: Data(readFileBytes(path, limit: 1 << 20)))
        } catch let error as DecodingError {
            throw InputError(file: path, problem: "is not a MelForge feature description: \(error)")
        }
    }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(self)) + [0x0A], to: path)
    }
}

/// Creates the folder an output goes into, as `mkdir -p` would.
func createParentFolder(of path: String) throws {
    let folder = (path as NSString).deletingLastPathComponent
    guard !folder.isEmpty else { return }
    do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
        throw FileOutputError.cannotCreate(path: path, reason: "cannot create folder '\(folder)'")
    }
}
