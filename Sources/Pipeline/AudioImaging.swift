import AudioIO
import Foundation
import Spectral
import Tensors

/// How a model trained on audio sees sound: the contract between audio and the models'
/// images. A clip is cut or padded to `clipSamples(frames:)` samples, turned into a log-mel
/// spectrogram `[nMels, frames]` by `frontEnd`, and mapped to [-1, 1] by `normalization`;
/// that image `[1, nMels, frames]` is what the models see and make. A generator, a classifier
/// and every command that feeds or vocodes them agree through this one value, which travels
/// in their checkpoints' metadata (`metadata`, `init(metadata:path:)`: the only code that
/// knows those keys).
public struct AudioImaging: Codable, Equatable, Sendable {
    public var frontEnd: FrontEndConfiguration
    public var normalization: LogMelNormalization
    /// Each clip's level before normalisation (nil: as recorded).
    public var loudness: Loudness?

    /// The training front end when no flag says otherwise: `melforge spectrogram`'s defaults
    /// with 64 bands, for 64 x 64 images of 16,128 samples at 16 kHz.
    public static let defaultFrontEnd: FrontEndConfiguration = {
        var c = FrontEndConfiguration()
        c.nMels = 64
        return c
    }()

    /// Loudest minus quietest dB of a training set that the normalisation keeps: the top
    /// 80 dB map to [-1, 1] and quieter cells clamp to -1.
    public static let dynamicRange: Float = 80

    public init(frontEnd: FrontEndConfiguration, normalization: LogMelNormalization, loudness: Loudness = .asRecorded) {
        self.frontEnd = frontEnd
        self.normalization = normalization
        self.loudness = loudness == .asRecorded ? nil : loudness
    }

    // MARK: Checkpoint metadata

    private static let frontEndKey = "front_end"
    private static let normalizationKey = "normalization"
    private static let loudnessKey = "loudness"

    /// The contract read from a checkpoint's (or a classifier's) metadata; nil when it was
    /// trained on images (no audio metadata). `path` names the file in errors.
    public init?(metadata: [String: String], path: String) throws {
        guard let normalizationText = metadata[Self.normalizationKey], let frontEndText = metadata[Self.frontEndKey] else {
            return nil
        }
        do {
            normalization = try JSONDecoder().decode(LogMelNormalization.self, from: Data(normalizationText.utf8))
            frontEnd = try JSONDecoder().decode(FrontEndConfiguration.self, from: Data(frontEndText.utf8))
        } catch {
            throw InputError(file: path, problem: "has unreadable front-end metadata: \(error)")
        }
        if let text = metadata[Self.loudnessKey] {
            guard let value = Loudness(rawValue: text) else {
                throw InputError(file: path, problem: "has loudness '\(text)'; this MelForge knows \(Loudness.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            loudness = value == .asRecorded ? nil : value
        }
    }

    /// The metadata entries that `init(metadata:path:)` reads back.
    public var metadata: [String: String] {
        func json<T: Encodable>(_ value: T) -> String {
            // Both types encode plain numbers and strings: encoding cannot fail.
            String(decoding: try! JSONEncoder().encode(value), as: UTF8.self)
        }
        var entries = [Self.normalizationKey: json(normalization), Self.frontEndKey: json(frontEnd)]
        if let loudness { entries[Self.loudnessKey] = loudness.rawValue }
        return entries
    }

    // MARK: Clips to images

    /// Samples a clip of `frames` frames takes: (frames - 1) hops when frames are centred,
    /// one FFT more when they are not.
    public static func clipSamples(frames: Int, frontEnd: FrontEndConfiguration) -> Int {
        (frames - 1) * frontEnd.hopLength + (frontEnd.center ? 0 : frontEnd.nFFT)
    }

    /// `samples` cut or padded with silence to `clipSamples(frames:)`.
    public static func fitted(_ samples: [Float], frames: Int, frontEnd: FrontEndConfiguration) -> [Float] {
        let length = clipSamples(frames: frames, frontEnd: frontEnd)
        return Array(samples.prefix(length)) + [Float](repeating: 0, count: max(0, length - samples.count))
    }

    /// Samples as the model's input `[nMels, size]`: cut or padded to `size` frames' worth,
    /// log-mel, normalised. The model's images are square: `size` must be `nMels`.
    public func image(ofSamples samples: [Float], size: Int, source: String) throws -> [Float] {
        let clip = Self.fitted(samples, frames: size, frontEnd: frontEnd)
        var features = try MelFrontEnd(frontEnd).features(clip, threads: 1)
        guard features.bins == size, features.frames == size else {
            throw InputError(file: source, problem: "gives \(features.bins)x\(features.frames) features; the model takes \(size)x\(size)")
        }
        (loudness ?? .asRecorded).apply(&features.values, imageSize: features.values.count)
        normalization.normalize(&features.values)
        return features.values
    }

    /// An audio file as the model's input `[1, 1, size, size]`.
    public func image(ofClip path: String, size: Int) throws -> Tensor {
        let samples = try AudioFile.read(path, sampleRate: frontEnd.sampleRate).samples
        return Tensor(shape: [1, 1, size, size], values: try image(ofSamples: samples, size: size, source: path))
    }

    /// Images normalised by `other` (a generator's) moved into this normalisation: back to dB,
    /// to this loudness, then normalised here (values beyond this range clamp to -1 or 1).
    public func renormalize(_ images: Tensor, from other: LogMelNormalization) -> Tensor {
        guard other != normalization || loudness != nil else { return images }
        var values = images.values
        other.denormalize(&values)
        // (peak loudness: images made otherwise are moved as this reads clips; a no-op on its own)
        (loudness ?? .asRecorded).apply(&values, imageSize: images.shape.dropFirst().reduce(1, *))
        normalization.normalize(&values)
        return Tensor(shape: images.shape, values: values)
    }

    // MARK: Agreement

    /// The settings in which `other` differs from this front end, as "name: theirs vs
    /// ours", for errors.
    public func differences(from other: FrontEndConfiguration) -> [String] {
        Self.differences(frontEnd, other)
    }

    /// A front end's settings by name, as text (its JSON), so that two can be compared field
    /// by field.
    private static func fields(_ c: FrontEndConfiguration) -> [String: String] {
        let object = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(c))) as? [String: Any] ?? [:]
        return object.mapValues { "\($0)" }
    }

    /// The settings in which two front ends differ, as "name: b vs a".
    public static func differences(_ a: FrontEndConfiguration, _ b: FrontEndConfiguration) -> [String] {
        let (mine, theirs) = (fields(a), fields(b))
        return Set(mine.keys).union(theirs.keys).sorted().compactMap { key in
            mine[key] == theirs[key] ? nil : "\(key) \(theirs[key] ?? "unset") vs \(mine[key] ?? "unset")"
        }
    }

    /// The command-line flags that make `wanted` where `other` differs from it
    /// ("--n-mels 64 --hop-length 128"), for errors that tell how to make matching features.
    public static func flags(for wanted: FrontEndConfiguration, differingFrom other: FrontEndConfiguration) -> String {
        let (mine, theirs) = (fields(wanted), fields(other))
        return flagNames.keys.sorted().compactMap { key -> String? in
            guard mine[key] != theirs[key], let flag = flagNames[key] else { return nil }
            if key == "center" { return wanted.center ? "--center" : "--no-center" }
            return mine[key].map { "\(flag) \($0)" } ?? "(no \(flag))"
        }.joined(separator: " ")
    }

    /// Each front-end setting's flag.
    static let flagNames = [
        "sampleRate": "--sample-rate", "nFFT": "--n-fft", "hopLength": "--hop-length", "winLength": "--win-length",
        "window": "--window", "center": "--center", "padMode": "--pad-mode", "nMels": "--n-mels", "fMin": "--f-min",
        "fMax": "--f-max", "power": "--power", "melScale": "--mel-scale", "melNorm": "--mel-norm", "scale": "--scale",
        "reference": "--ref", "amin": "--amin", "topDB": "--top-db",
    ]

    /// Refuses to pair a classifier (`mine`, its contract; nil for an image classifier) with a
    /// subject of another kind or front end (`theirs`: a generator's or the training data's
    /// front end; nil for images). The texts name both in errors: `judge`
    /// ("classifier 'c.safetensors'"), `subject` ("generator 'g'", "this run"), what the
    /// subject does with sound (`verb`: "makes", "trains on") and its short name in the list
    /// of differences ("generator", "training").
    public static func requireAgreement(classifier mine: AudioImaging?, subject theirs: FrontEndConfiguration?, judge: String,
                                        subject: String, verb: String, shortName: String) throws {
        switch (mine, theirs) {
        case (nil, .some):
            throw UsageError("\(judge) was trained on images; \(subject) \(verb) audio")
        case (.some, nil):
            throw UsageError("\(judge) was trained on audio; \(subject) \(verb) images")
        case let (.some(mine), .some(theirs)):
            let differences = mine.differences(from: theirs)
            guard differences.isEmpty else {
                throw UsageError("\(judge) was trained on other front-end settings than \(subject) (\(shortName) vs classifier: "
                                 + "\(differences.joined(separator: ", "))); train the classifier on features made the same way")
            }
        case (nil, nil):
            break
        }
    }
}
