import FileFormats
import Foundation
import Layers
import Spectral
import Tensors
import Training
import WorkerPool

/// A trained `VocoderNetwork` as a `Vocoder`: features -> the NNLS magnitude and PGHI phase
/// priors and the network's input -> spectra -> the inverse STFT. One forward pass, no
/// iterations.
public struct LearnedVocoder: Vocoder, @unchecked Sendable {
    public let path: String
    public let vocoderConfiguration: LearnedVocoderConfiguration
    /// Steps it was trained.
    public let step: Int
    let network: VocoderNetwork
    let inversion: FeatureInversion
    let stft: STFT

    public var configuration: FrontEndConfiguration { vocoderConfiguration.frontEnd }
    public var name: String { "learned vocoder (\((path as NSString).lastPathComponent), \(step) steps)" }

    /// The vocoder in a checkpoint of 'melforge train vocoder' (a file, or a run folder holding
    /// checkpoint.safetensors).
    public init(checkpoint: String) throws {
        var isFolder: ObjCBool = false
        let path = FileManager.default.fileExists(atPath: checkpoint, isDirectory: &isFolder) && isFolder.boolValue
            ? checkpoint + "/checkpoint.safetensors" : checkpoint
        let file = try SafeTensors.read(path)
        let configuration = try VocoderTrainer.configuration(of: file, path: path)
        var random = RandomNumbers(seed: 0)
        network = VocoderNetwork(configuration, random: &random)
        try Checkpoint.restore(network, prefix: "vocoder", from: file, path: path)
        step = try RunState.counter("step", from: file, path: path).0
        self.path = path
        vocoderConfiguration = configuration
        inversion = try FeatureInversion(configuration: configuration.frontEnd, nnlsIterations: configuration.nnlsIterations)
        let f = configuration.frontEnd
        stft = try STFT(nFFT: f.nFFT, hopLength: f.hopLength, winLength: f.winLength, window: f.window, center: f.center)
    }

    public func synthesize(_ features: Spectrogram, normalization: LogMelNormalization?, length: Int?) throws -> VocodedClip {
        try synthesize([features], normalization: normalization, lengths: [length]).first!
    }

    /// Clips of one length go through the network as one batch; each clip's inverse STFT
    /// runs on its own worker.
    public func synthesize(_ features: [Spectrogram], normalization: LogMelNormalization?, threads: Int) throws -> [VocodedClip] {
        var clips = [VocodedClip?](repeating: nil, count: features.count)
        for frames in Set(features.map(\.frames)).sorted() {
            let indices = features.indices.filter { features[$0].frames == frames }
            let made = try synthesize(indices.map { features[$0] }, normalization: normalization,
                                      lengths: indices.map { _ in nil }, threads: threads)
            for (index, clip) in zip(indices, made) { clips[index] = clip }
        }
        return clips.map { $0! }
    }

    /// Clips of one frame count.
    func synthesize(_ features: [Spectrogram], normalization: LogMelNormalization?, lengths: [Int?],
                    threads: Int = Workers.count) throws -> [VocodedClip] {
        guard let frames = features.first?.frames, frames > 0 else {
            throw SpectralError.invalidParameter(name: "features", value: "0 frames", accepted: "at least 1 frame")
        }
        // The prior checks the features (bands, finite values, the normalised range) and undoes
        // the normalisation; the network reads the same dB values.
        let mels = try features.map { try inversion.melSpectrogram(fromFeatures: $0, normalization: normalization) }
        let priors = try mels.map { try inversion.magnitude(fromMel: $0) }
        let phaseGradient = PhaseGradient(stft: stft)
        let phases = try Workers.each(priors.count, threads: threads) { phaseGradient.phase(priors[$0]) }
        let decibels = features.map { clip -> Spectrogram in
            var values = clip.values
            normalization?.denormalize(&values)
            return Spectrogram(bins: clip.bins, frames: clip.frames, values: values)
        }
        let (spectra, _) = network.forward(network.input(decibels), logPrior: priors.flatMap(VocoderNetwork.logPrior),
                                           phasePrior: phases.flatMap { $0 })
        let (stft, bins) = (self.stft, vocoderConfiguration.bins)
        return try Workers.each(features.count, threads: threads) { b in
            let spectrum = spectra.spectrum(b)
            let range = (b * bins * frames)..<((b + 1) * bins * frames)
            let magnitude = Spectrogram(bins: bins, frames: frames, values: spectra.logMagnitude[range].map { exp($0) })
            return VocodedClip(samples: try stft.inverse(spectrum, length: lengths[b]), magnitude: magnitude)
        }
    }
}
