import Foundation
import Spectral
import Tensors
import Training
import WorkerPool

/// What reward-guided generation maximises, judged on the generator's images (no vocoding in
/// the loop): a classifier's probability of a label, or how near an acoustic measure of the
/// sound the spectrogram describes is to a target.
public struct Reward {
    public enum Kind {
        /// p(label | image) under the classifier: in [0, 1].
        case label(index: Int, name: String, judge: Judge)
        /// -|L - target| / 10, L the clip's level in dB (20 log10 RMS; a full-scale square wave is 0).
        case loudness(target: Double, audio: AcousticMeasure)
        /// -|log2(C / target)|, C the clip's spectral centroid in Hz (frames weighted by energy).
        case centroid(target: Double, audio: AcousticMeasure)
    }

    public let kind: Kind
    /// As given, e.g. "label:seven".
    public let specification: String

    public static let help = "label:NAME (a classifier's probability of class NAME; needs --classifier), loudness:DB (a level target in dBFS RMS, e.g. loudness:-20) or centroid:HZ (a spectral-centroid target in Hz, e.g. centroid:1500)"

    public init(_ specification: String, judge: Judge?, model: TrainedModel, modelPath: String) throws {
        self.specification = specification
        let parts = specification.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty else {
            throw UsageError("--reward '\(specification)' is not accepted; expected \(Self.help)")
        }
        let acoustic = { () throws -> AcousticMeasure in
            guard let imaging = try AudioImaging(metadata: model.metadata, path: modelPath) else {
                throw UsageError("--reward \(parts[0]) needs a generator of audio; '\(modelPath)' makes images")
            }
            return try AcousticMeasure(imaging)
        }
        switch parts[0] {
        case "label":
            guard let judge else { throw UsageError("--reward '\(specification)' needs --classifier (the judge of labels)") }
            try judge.requireCompatible(with: model, modelPath: modelPath)
            kind = .label(index: try judge.classIndex(parts[1], option: "--reward label:"), name: parts[1], judge: judge)
        case "loudness":
            guard let target = Double(parts[1]), target.isFinite, target <= 0 else {
                throw UsageError("--reward loudness:\(parts[1]) is not accepted; expected a level in dBFS, 0 or below (e.g. loudness:-20)")
            }
            kind = .loudness(target: target, audio: try acoustic())
        case "centroid":
            let audio = try acoustic()
            let nyquist = Double(audio.imaging.frontEnd.sampleRate) / 2
            guard let target = Double(parts[1]), target > 0, target < nyquist else {
                throw UsageError("--reward centroid:\(parts[1]) is not accepted; expected a frequency in Hz between 0 and \(Int(nyquist)) (the model's Nyquist frequency)")
            }
            kind = .centroid(target: target, audio: audio)
        default:
            throw UsageError("--reward '\(specification)': unknown reward '\(parts[0])'; expected \(Self.help)")
        }
    }

    /// One reward per image of a generator's batch `[N, 1, H, W]`.
    public func callAsFunction(_ images: Tensor, model: TrainedModel, modelPath: String) throws -> [Float] {
        try judged(images, model: model, modelPath: modelPath).rewards
    }

    /// The rewards and, for an acoustic reward, the measure behind each (level in dBFS or
    /// centroid in Hz), from one pass over the images.
    public func judged(_ images: Tensor, model: TrainedModel, modelPath: String) throws -> (rewards: [Float], measures: [Double]?) {
        switch kind {
        case .label(let index, _, let judge):
            let p = judge.classifier.judge(try judge.input(fromModel: images, of: model, modelPath: modelPath)).probabilities
            let k = judge.classes.count
            return ((0..<images.shape[0]).map { p.values[$0 * k + index] }, nil)
        case .loudness(let target, let audio):
            let levels = try audio.measure(images).map(\.level)
            return (levels.map { Float(-abs($0 - target) / 10) }, levels)
        case .centroid(let target, let audio):
            let centroids = try audio.measure(images).map(\.centroid)
            return (centroids.map { Float(-abs(log2(max($0, 1) / target))) }, centroids)
        }
    }
}

/// What a model's images would sound like, measured without a phase: each image's linear
/// magnitude (`FeatureInversion`) and from it the level and the spectral centroid
/// (`SpectralMeasures`).
public struct AcousticMeasure: Sendable {
    public let imaging: AudioImaging
    let inversion: FeatureInversion

    public init(_ imaging: AudioImaging) throws {
        self.imaging = imaging
        inversion = try FeatureInversion(configuration: imaging.frontEnd)
    }

    public struct Acoustics: Sendable {
        /// dBFS RMS.
        public var level: Double
        /// Hz.
        public var centroid: Double
    }

    /// Level and centroid of each image `[N, 1, H, W]`, on `Workers.count` threads.
    public func measure(_ images: Tensor) throws -> [Acoustics] {
        let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        return try Workers.each(n) { i in
            let features = Spectrogram(bins: h, frames: w, values: Array(images.values[(i * h * w)..<((i + 1) * h * w)]))
            let magnitude = try inversion.magnitude(fromFeatures: features, normalization: imaging.normalization)
            let c = imaging.frontEnd
            return Acoustics(level: SpectralMeasures.level(magnitude, stft: inversion.frontEnd.stft),
                             centroid: SpectralMeasures.centroid(magnitude, sampleRate: c.sampleRate, nFFT: c.nFFT))
        }
    }
}
