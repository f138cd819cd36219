import Dispatch
import Foundation
import Spectral
import Tensors
import Training

/// What reward-guided generation maximises, judged on the generator's images (no vocoding in
/// the loop): a classifier's probability of a label, or how near an acoustic measure of the
/// sound the spectrogram describes is to a target.
struct Reward {
    enum Kind {
        /// p(label | image) under the classifier: in [0, 1].
        case label(index: Int, name: String, judge: Judge)
        /// -|L - target| / 10, L the clip's level in dB (20 log10 RMS; a full-scale square wave is 0).
        case loudness(target: Double, audio: ModelAudio)
        /// -|log2(C / target)|, C the clip's spectral centroid in Hz (frames weighted by energy).
        case centroid(target: Double, audio: ModelAudio)
    }

    let kind: Kind
    /// As given, e.g. "label:seven".
    let specification: String

    static let help = "label:NAME (a classifier's probability of class NAME; needs --classifier), loudness:DB (a level target in dBFS RMS, e.g. loudness:-20) or centroid:HZ (a spectral-centroid target in Hz, e.g. centroid:1500)"

    init(_ specification: String, judge: Judge?, model: TrainedModel, modelPath: String) throws {
        self.specification = specification
        let parts = specification.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty else {
            throw CommandError("--reward '\(specification)' is not accepted; expected \(Self.help)")
        }
        let acoustic = { () throws -> ModelAudio in
            guard let audio = try ModelAudio(model, vocoder: try VocoderOptions.parse([]), path: modelPath) else {
                throw CommandError("--reward \(parts[0]) needs a generator of audio; '\(modelPath)' makes images")
            }
            return audio
        }
        switch parts[0] {
        case "label":
            guard let judge else { throw CommandError("--reward '\(specification)' needs --classifier (the judge of labels)") }
            try judge.requireCompatible(with: model, modelPath: modelPath)
            kind = .label(index: try judge.classIndex(parts[1], option: "--reward label:"), name: parts[1], judge: judge)
        case "loudness":
            guard let target = Double(parts[1]), target.isFinite, target <= 0 else {
                throw CommandError("--reward loudness:\(parts[1]) is not accepted; expected a level in dBFS, 0 or below (e.g. loudness:-20)")
            }
            kind = .loudness(target: target, audio: try acoustic())
        case "centroid":
            let audio = try acoustic()
            let nyquist = Double(audio.frontEnd.sampleRate) / 2
            guard let target = Double(parts[1]), target > 0, target < nyquist else {
                throw CommandError("--reward centroid:\(parts[1]) is not accepted; expected a frequency in Hz between 0 and \(Int(nyquist)) (the model's Nyquist frequency)")
            }
            kind = .centroid(target: target, audio: audio)
        default:
            throw CommandError("--reward '\(specification)': unknown reward '\(parts[0])'; expected \(Self.help)")
        }
    }

    /// One reward per image of a generator's batch `[N, 1, H, W]`.
    func callAsFunction(_ images: Tensor, model: TrainedModel, modelPath: String) throws -> [Float] {
        switch kind {
        case .label(let index, _, let judge):
            let p = judge.classifier.judge(try judge.input(fromModel: images, of: model, modelPath: modelPath)).probabilities
            let k = judge.classes.count
            return (0..<images.shape[0]).map { p.values[$0 * k + index] }
        case .loudness(let target, let audio):
            return try Self.measure(images, audio: audio) { Float(-abs($0.level - target) / 10) }
        case .centroid(let target, let audio):
            return try Self.measure(images, audio: audio) { Float(-abs(log2(max($0.centroid, 1) / target))) }
        }
    }

    /// The measure behind an acoustic reward for each image, for reports.
    func measurement(_ images: Tensor) throws -> [Double]? {
        switch kind {
        case .label: return nil
        case .loudness(_, let audio): return try Self.acoustics(images, audio: audio).map(\.level)
        case .centroid(_, let audio): return try Self.acoustics(images, audio: audio).map(\.centroid)
        }
    }

    static func measure(_ images: Tensor, audio: ModelAudio, _ score: (Acoustics) -> Float) throws -> [Float] {
        try acoustics(images, audio: audio).map(score)
    }

    struct Acoustics {
        var level: Double
        var centroid: Double
    }

    /// Level and centroid of each image's sound, from its linear magnitude (the vocoder's mel
    /// inversion; Griffin-Lim's phase is not needed), on all cores. Per frame, Parseval gives
    /// the windowed frame's mean square (|X_0|^2 + 2 sum |X_k|^2 + |X_N/2|^2) / (N sum w^2).
    static func acoustics(_ images: Tensor, audio: ModelAudio) throws -> [Acoustics] {
        let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        let vocoder = audio.vocoder
        let nFFT = vocoder.configuration.nFFT, rate = Double(vocoder.configuration.sampleRate)
        let windowEnergy = vocoder.frontEnd.stft.windowValues.reduce(0.0) { $0 + Double($1) * Double($1) }
        var results = [Result<Acoustics, Error>](repeating: .success(Acoustics(level: 0, centroid: 0)), count: n)
        let next = Counter()
        results.withUnsafeMutableBufferPointer { buffer in
            let out = UncheckedBuffer(buffer)
            DispatchQueue.concurrentPerform(iterations: max(1, min(ProcessInfo.processInfo.activeProcessorCount, n))) { _ in
                while let i = next.take(below: n) {
                    out.buffer[i] = Result {
                        let features = Spectrogram(bins: h, frames: w, values: Array(images.values[(i * h * w)..<((i + 1) * h * w)]))
                        let magnitude = try vocoder.magnitude(fromMel: vocoder.melSpectrogram(fromFeatures: features,
                                                                                               normalization: audio.normalization))
                        var (meanSquare, weightedCentroid, energy) = (0.0, 0.0, 0.0)
                        for t in 0..<magnitude.frames {
                            var (power, moment, amplitude) = (0.0, 0.0, 0.0)
                            for k in 0..<magnitude.bins {
                                let x = Double(magnitude[k, t])
                                power += (k == 0 || 2 * k == nFFT ? 1 : 2) * x * x
                                moment += Double(k) * rate / Double(nFFT) * x
                                amplitude += x
                            }
                            meanSquare += power / (Double(nFFT) * windowEnergy) / Double(magnitude.frames)
                            if amplitude > 0 { weightedCentroid += power * moment / amplitude }
                            energy += power
                        }
                        return Acoustics(level: 10 * log10(max(meanSquare, 1e-12)),
                                         centroid: energy > 0 ? weightedCentroid / energy : 0)
                    }
                }
            }
        }
        return try results.map { try $0.get() }
    }
}

/// Hands out 0, 1, 2, ... to several threads.
final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()

    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

/// A buffer that several threads write at distinct indices.
struct UncheckedBuffer<Element>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Element>
    init(_ buffer: UnsafeMutableBufferPointer<Element>) { self.buffer = buffer }
}
