import AudioIO
import FileFormats
import Foundation
import Spectral
import Tensors
import Training

/// How a model trained on audio sees sound (`AudioImaging`, from its checkpoint's metadata)
/// and the vocoder back.
struct ModelAudio {
    let imaging: AudioImaging
    let vocoder: Vocoder

    var frontEnd: FrontEndConfiguration { imaging.frontEnd }
    var normalization: LogMelNormalization { imaging.normalization }

    /// nil when the model was trained on images (no audio metadata).
    init?(_ model: TrainedModel, vocoder options: VocoderOptions, path: String) throws {
        guard let imaging = try AudioImaging(metadata: model.metadata, path: path) else { return nil }
        self.imaging = imaging
        vocoder = try options.vocoder(for: imaging.frontEnd)
    }

    /// A clip as the model's input: cut or padded to its length, log-mel, normalised; `[1, 1, H, W]`.
    func image(ofClip path: String, size: Int) throws -> Tensor {
        let samples = try AudioFile.read(path, sampleRate: frontEnd.sampleRate).samples
        return Tensor(shape: [1, 1, size, size], values: try imaging.image(ofSamples: samples, size: size, source: path))
    }

    struct Written {
        var name: String
        var convergence: Float
    }

    /// Vocodes images `[N, 1, H, W]` (normalised log-mel) on all cores and writes NAME.wav
    /// (peak-normalised to -1 dBFS when louder) and NAME.png for each `names[i]` into `folder`.
    func write(_ images: Tensor, names: [String], into folder: String) throws -> [Written] {
        let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        let features = (0..<n).map { i in
            Spectrogram(bins: h, frames: w, values: Array(images.values[(i * h * w)..<((i + 1) * h * w)]))
        }
        let magnitudes = try features.map {
            try vocoder.magnitude(fromMel: vocoder.melSpectrogram(fromFeatures: $0, normalization: normalization))
        }
        let clips = try vocoder.griffinLim.reconstruct(magnitudes, threads: ProcessInfo.processInfo.activeProcessorCount)
        var written: [Written] = []
        for (i, clip) in clips.enumerated() {
            let peak = clip.samples.map(abs).max() ?? 0
            let gain: Float = peak > 0.891 ? 0.891 / peak : 1
            try AudioFile.write(clip.samples.map { $0 * gain }, sampleRate: frontEnd.sampleRate, to: folder + "/\(names[i]).wav")
            var db = features[i].values
            normalization.denormalize(&db)
            let picture = Heatmap.render(db, rows: h, columns: w, range: normalization.minDB...normalization.maxDB,
                                         colorMap: .magma, cellSize: Heatmap.cellSize(rows: h, columns: w, minimum: 192))
            try PNG.write(picture, to: folder + "/\(names[i]).png")
            written.append(Written(name: names[i], convergence: clip.finalConvergence))
        }
        return written
    }
}

/// Resolves RUN_DIR to its checkpoint file.
func checkpointPath(_ argument: String) -> String {
    isDirectory(argument) ? argument + "/checkpoint.safetensors" : argument
}

/// Creates `folder`, refusing one that holds files unless `overwrite`.
func prepareOutputFolder(_ folder: String, overwrite: Bool) throws {
    if FileManager.default.fileExists(atPath: folder) && !isDirectory(folder) {
        throw CommandError("--output '\(folder)' is a file, not a folder")
    }
    let existing = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    if !existing.isEmpty && !overwrite {
        throw CommandError("--output '\(folder)' already holds \(existing.count) files; choose an empty folder or pass --overwrite")
    }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
}

/// The label index for `--label NAME` of a model (nil for an unconditional model without one).
func labelIndex(_ label: String?, of model: TrainedModel) throws -> Int? {
    guard let classes = model.configuration.classes else {
        if let label { throw CommandError("--label '\(label)': this model was trained without classes (train with --conditional)") }
        return nil
    }
    guard let label else { return nil }
    guard let index = classes.firstIndex(of: label) else {
        throw CommandError("--label '\(label)' is not a class of this model; its classes: \(classes.joined(separator: ", "))")
    }
    return index
}
