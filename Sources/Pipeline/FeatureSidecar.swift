import AudioIO
import FileFormats
import Foundation
import Spectral

/// The JSON written beside a feature array: how it was made, so it can be checked
/// against a model's expectations and its scaling undone.
public struct FeatureSidecar: Codable, Equatable {
    public struct Source: Codable, Equatable {
        public var path: String
        public var sampleRate: Int
        public var channels: Int
        public var frames: Int
        public var container: String
        public var encoding: String
        public var replacedNonFiniteSamples: Int

        public init(clip: AudioClip, path: String) {
            self.path = path
            sampleRate = clip.source.sampleRate
            channels = clip.source.channels
            frames = clip.source.frames
            container = clip.source.container
            encoding = clip.source.encoding
            replacedNonFiniteSamples = clip.replacedSamples
        }
    }

    public var format = "melforge-features/1"
    /// Orientation of the array: always [bins, frames].
    public var layout = "[n_mels, frames]"
    public var frontEnd: FrontEndConfiguration
    public var normalization: LogMelNormalization?
    /// Samples (at the front end's rate) the features were computed from, so that a
    /// vocoder can give back a signal of the same length.
    public var samples: Int?
    public var source: Source?

    public init(frontEnd: FrontEndConfiguration, normalization: LogMelNormalization?, samples: Int?, source: Source?) {
        self.frontEnd = frontEnd
        self.normalization = normalization
        self.samples = samples
        self.source = source
    }

    /// `out/clip.npy` -> `out/clip.json`.
    public static func path(forArray arrayPath: String) -> String {
        (arrayPath.hasSuffix(".npy") ? String(arrayPath.dropLast(4)) : arrayPath) + ".json"
    }

    public static func read(_ path: String) throws -> FeatureSidecar {
        do {
            return try JSONDecoder().decode(FeatureSidecar.self, from: Data(readFileBytes(path, limit: 1 << 20)))
        } catch let error as DecodingError {
            throw InputError(file: path, problem: "is not a MelForge feature description: \(error)")
        }
    }

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(self)) + [0x0A], to: path)
    }
}

/// Creates the folder an output goes into, as `mkdir -p` would.
public func createParentFolder(of path: String) throws {
    let folder = (path as NSString).deletingLastPathComponent
    guard !folder.isEmpty else { return }
    do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
        throw FileOutputError.cannotCreate(path: path, reason: "cannot create folder '\(folder)'")
    }
}
