import AudioIO
import FileFormats
import Foundation
import Pictures
import Spectral
import Tensors
import Training
import WorkerPool

/// A model's images as sound: the model's `AudioImaging` (from its checkpoint) and the vocoder
/// that turns them back into samples.
public struct ModelAudio {
    public let imaging: AudioImaging
    public let vocoder: any Vocoder

    public var frontEnd: FrontEndConfiguration { imaging.frontEnd }
    public var normalization: LogMelNormalization { imaging.normalization }

    /// The model's contract with `vocoder(frontEnd)` for its front end; nil when the model was
    /// trained on images (no audio metadata).
    public init?(_ model: TrainedModel, path: String, vocoder: (FrontEndConfiguration) throws -> any Vocoder) throws {
        guard let imaging = try AudioImaging(metadata: model.metadata, path: path) else { return nil }
        self.imaging = imaging
        self.vocoder = try vocoder(imaging.frontEnd)
    }

    /// A clip of audio as the model's input `[1, 1, S, S]`.
    public func image(ofClip path: String, size: Int) throws -> Tensor {
        try imaging.image(ofClip: path, size: size)
    }

    /// Images `[N, 1, H, W]` as features `[H, W]` each.
    static func features(of images: Tensor) -> [Spectrogram] {
        let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        return (0..<n).map { i in Spectrogram(bins: h, frames: w, values: Array(images.values[(i * h * w)..<((i + 1) * h * w)])) }
    }

    /// NAME.wav for each of `names` through `other` (a vocoder of the same front end), for
    /// hearing the same images through several vocoders; `names` carry any suffix wanted.
    public func writeSound(_ images: Tensor, names: [String], by other: any Vocoder, into folder: String) throws {
        _ = try writeSound(Self.features(of: images), names: names, by: other, into: folder)
    }

    /// The two latents an interpolation runs between: the encodings of two clips (a model
    /// that encodes: the VAE), else the latents two seeds draw.
    public func interpolationEnds(of model: TrainedModel, clips: (String, String)?, seeds: (UInt64, UInt64)?, label: Int?,
                                  checkpoint: String) throws -> (Tensor, Tensor) {
        guard let (from, to) = clips else {
            let (a, b) = seeds ?? (0, 1)
            return (model.latents(count: 1, seed: a), model.latents(count: 1, seed: b))
        }
        guard model.canEncode else {
            throw UsageError("'\(checkpoint)' holds a \(model.configuration.model.rawValue.uppercased()), which cannot encode clips; use --seeds")
        }
        let size = model.configuration.imageSize
        return (model.encode(try image(ofClip: from, size: size), labels: label.map { [$0] })!,
                model.encode(try image(ofClip: to, size: size), labels: label.map { [$0] })!)
    }

    /// The same images through each of `vocoders` as CLIP.TAG.wav beside each of `clips`:
    /// each clip's alternatives (the vocoder's name, the file) and each vocoder's time.
    public func writeAlternatives(_ images: Tensor, clips: [String], through vocoders: [(tag: String, vocoder: any Vocoder)],
                                  into folder: String) throws -> (files: [[(vocoder: String, file: String)]], timings: [String]) {
        var files = [[(vocoder: String, file: String)]](repeating: [], count: clips.count)
        var timings: [String] = []
        for (tag, other) in vocoders {
            let start = Date()
            try writeSound(images, names: clips.map { "\($0).\(tag)" }, by: other, into: folder)
            timings.append(String(format: "%@ %.2f s", other.name, Date().timeIntervalSince(start)))
            for i in clips.indices { files[i].append((other.name, "\(clips[i]).\(tag).wav")) }
        }
        return (files, timings)
    }

    /// Vocodes on `Workers.count` threads and writes NAME.wav, peak-normalised to -1 dBFS when louder.
    private func writeSound(_ features: [Spectrogram], names: [String], by vocoder: any Vocoder, into folder: String) throws
        -> [VocodedClip]
    {
        let clips = try vocoder.synthesize(features, normalization: normalization, threads: Workers.count)
        for (i, clip) in clips.enumerated() {
            let peak = clip.samples.map(abs).max() ?? 0
            let gain: Float = peak > 0.891 ? 0.891 / peak : 1
            try AudioFile.write(clip.samples.map { $0 * gain }, sampleRate: frontEnd.sampleRate, to: folder + "/\(names[i]).wav")
        }
        return clips
    }

    /// What was written of one clip.
    public struct Written {
        public var name: String
        /// Spectral convergence against the vocoder's target magnitude, when it has one.
        public var convergence: Float?
    }

    /// Vocodes images `[N, 1, H, W]` (normalised log-mel) on `Workers.count` threads and writes
    /// NAME.wav (peak-normalised to -1 dBFS when louder) and NAME.png for each `names[i]` into
    /// `folder`.
    public func write(_ images: Tensor, names: [String], into folder: String) throws -> [Written] {
        let features = Self.features(of: images)
        let clips = try writeSound(features, names: names, by: vocoder, into: folder)
        var written: [Written] = []
        let (h, w) = (images.shape[2], images.shape[3])
        for (i, clip) in clips.enumerated() {
            var db = features[i].values
            normalization.denormalize(&db)
            var figure = SpectrogramPicture(frontEnd: frontEnd, title: SpectrogramPicture.title(names[i], frontEnd: frontEnd))
            figure.minimumSide = 192
            let picture = try figure.render(db, bins: h, frames: w, range: normalization.minDB...normalization.maxDB)
            try PNG.write(picture, to: folder + "/\(names[i]).png")
            written.append(Written(name: names[i], convergence: clip.convergence))
        }
        return written
    }
}

extension TrainedModel {
    /// The label index for `--label NAME` (nil for an unconditional model without one); an
    /// unknown name is an error listing the classes.
    public func labelIndex(_ label: String?) throws -> Int? {
        guard let classes = configuration.classes else {
            if let label { throw UsageError("--label '\(label)': this model was trained without classes (train with --conditional)") }
            return nil
        }
        guard let label else { return nil }
        guard let index = classes.firstIndex(of: label) else {
            throw UsageError("--label '\(label)' is not a class of this model; its classes: \(classes.joined(separator: ", "))")
        }
        return index
    }

    /// `labelIndex`, required for a conditional model.
    public func requiredLabelIndex(_ label: String?, modelName: String) throws -> Int? {
        let index = try labelIndex(label)
        if let classes = configuration.classes, index == nil {
            throw UsageError("this \(modelName) is conditional: pass --label (one of \(classes.joined(separator: ", ")))")
        }
        return index
    }
}

/// A model's pictures (`[N, C, S, S]` in [-1, 1], first channel drawn in grey): image-NNN.png
/// each, as the model made it, and grid.png of them all under `heading`, each with its
/// caption (a conditional model's class) when given.
public enum ImageGrid {
    public static func write(_ images: Tensor, into folder: String, heading: String, captions: [String]?) throws {
        let (c, h, w) = (images.shape[1], images.shape[2], images.shape[3])
        var tiles: [PixelImage] = []
        for n in 0..<images.shape[0] {
            let values = Array(images.values[(n * c * h * w)..<(n * c * h * w + h * w)])  // first channel
            let tile = Heatmap.render(values, rows: h, columns: w, range: -1...1, colorMap: .gray, lowRowAtBottom: false,
                                      cellSize: (max(1, 96 / w), max(1, 96 / h)))
            try PNG.write(tile, to: folder + String(format: "/image-%03d.png", n + 1))
            tiles.append(tile)
        }
        try PNG.write(CaptionedGrid.render(tiles, columns: min(8, tiles.count), heading: heading, captions: captions,
                                           font: try Font.standard()), to: folder + "/grid.png")
    }
}

/// `steps` latents evenly spaced on the line from `start` to `end` (each `[1, Z]`), ends
/// included: `[steps, Z]`.
public func interpolated(from start: Tensor, to end: Tensor, steps: Int) -> Tensor {
    precondition(start.count == end.count && steps >= 2, "interpolated: two latents of one size and 2 or more steps")
    let size = start.count
    var values: [Float] = []
    for i in 0..<steps {
        let t = Float(i) / Float(steps - 1)
        values += (0..<size).map { (1 - t) * start.values[$0] + t * end.values[$0] }
    }
    return Tensor(shape: [steps, size], values: values)
}
