/// Every parameter of the audio -> mel features path, with librosa's names.
///
/// It travels with the features it made (a spectrogram's sidecar JSON, a
/// checkpoint's metadata) so that anything downstream can check it was given
/// matching data and undo the scaling exactly.
public struct FrontEndConfiguration: Codable, Equatable, Sendable {
    public enum OutputScale: String, CaseIterable, Codable, Sendable {
        /// `power_to_db` of the mel power (`power` 2) or of the squared mel magnitude (`power` 1).
        case db
        /// The mel spectrogram itself: |STFT|^power through the filter bank.
        case power
    }

    public var sampleRate = 16_000
    public var nFFT = 1_024
    public var hopLength = 256
    /// `nil` means `nFFT`.
    public var winLength: Int?
    public var window = Window.hann
    public var center = true
    public var padMode = PadMode.constant
    public var nMels = 80
    public var fMin = 0.0
    /// `nil` means `sampleRate / 2`.
    public var fMax: Double?
    /// 2: filter bank over |STFT|^2 (power); 1: over |STFT| (magnitude).
    public var power: Float = 2
    public var melScale = MelScale.slaney
    public var melNorm = MelNorm.slaney
    public var scale = OutputScale.db
    /// dB reference power (librosa's `ref`): this power maps to 0 dB.
    public var reference: Float = 1
    /// Power floor before the logarithm (librosa's `amin`).
    public var amin: Float = 1e-10
    /// Dynamic range kept below the peak; `nil` keeps all (librosa's `top_db=None`).
    public var topDB: Float?

    public init() {}

    /// The frames a clip of `samples` samples gives.
    public func frameCount(samples: Int) -> Int {
        let padded = center ? samples + 2 * (nFFT / 2) : samples
        return padded < nFFT ? 0 : 1 + (padded - nFFT) / hopLength
    }
}

/// Audio -> mel spectrogram `[nMels, frames]`, fused: each frame goes window -> FFT
/// -> |X|^power -> mel filters without a linear spectrogram ever being stored.
///
/// With the default configuration the result equals
/// `librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024,
/// hop_length=256, n_mels=80), ref=1.0, amin=1e-10, top_db=None)`.
/// Immutable and safe to share across threads.
public final class MelFrontEnd: Sendable {
    public let configuration: FrontEndConfiguration
    public let stft: STFT
    public let filterbank: MelFilterbank
    public let decibels: DecibelScaling

    public init(_ configuration: FrontEndConfiguration) throws {
        guard configuration.power == 1 || configuration.power == 2 else {
            throw SpectralError.invalidParameter(name: "power", value: "\(configuration.power)", accepted: "1 or 2")
        }
        self.configuration = configuration
        stft = try STFT(nFFT: configuration.nFFT, hopLength: configuration.hopLength,
                        winLength: configuration.winLength, window: configuration.window,
                        center: configuration.center, padMode: configuration.padMode)
        filterbank = try MelFilterbank(sampleRate: configuration.sampleRate, nFFT: configuration.nFFT,
                                       nMels: configuration.nMels, fMin: configuration.fMin,
                                       fMax: configuration.fMax, scale: configuration.melScale,
                                       norm: configuration.melNorm)
        decibels = try DecibelScaling(reference: .value(configuration.reference), amin: configuration.amin,
                                      topDB: configuration.topDB)
    }

    /// The features the configuration asks for: dB or power mel, `[nMels, frames]`.
    public func features(_ samples: [Float]) throws -> Spectrogram {
        var mel = try melSpectrogram(samples)
        if configuration.scale == .db {
            if configuration.power == 1 {
                // amplitude_to_db(M) == power_to_db(M^2): the floor and reference stay in power units.
                for i in mel.values.indices { mel.values[i] *= mel.values[i] }
            }
            decibels.toDecibels(&mel.values)
        }
        return mel
    }

    /// The mel spectrogram `[nMels, frames]`: filter bank times |STFT|^power.
    public func melSpectrogram(_ samples: [Float]) throws -> Spectrogram {
        let frames = stft.frameCount(samples: samples.count)
        var mel = Spectrogram(bins: configuration.nMels, frames: frames)
        let bins = stft.bins
        let squareRoot = configuration.power == 1
        var spectrum = [Float](repeating: 0, count: bins)
        try mel.values.withUnsafeMutableBufferPointer { output in
            try spectrum.withUnsafeMutableBufferPointer { spectrum in
                _ = try stft.forEachFrame(of: samples) { frame, buffers in
                    let complex = buffers.complexFloats
                    for k in 0..<bins {
                        let (re, im) = (complex[2 * k], complex[2 * k + 1])
                        let squared = re * re + im * im
                        spectrum[k] = squareRoot ? squared.squareRoot() : squared
                    }
                    filterbank.apply(spectrum: spectrum.baseAddress!, into: output.baseAddress! + frame, stride: frames)
                }
            }
        }
        return mel
    }
}
