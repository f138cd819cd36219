import WorkerPool
import Dispatch
import Foundation

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
    ///
    /// - Parameter threads: workers for one long signal; its frames are split into
    ///   contiguous runs, one per worker. Signals under `parallelThreshold` frames
    ///   (about 30 s at the defaults) always run on the calling thread, so callers
    ///   that already spread many clips over the cores pay nothing for this.
    public func features(_ samples: [Float], threads: Int = Workers.count) throws -> Spectrogram {
        try compute(samples, threads: threads, decibels: configuration.scale == .db)
    }

    /// The mel spectrogram `[nMels, frames]`: filter bank times |STFT|^power.
    public func melSpectrogram(_ samples: [Float], threads: Int = Workers.count) throws -> Spectrogram {
        try compute(samples, threads: threads, decibels: false)
    }

    /// Frames below which a signal is not split across threads.
    public static let parallelThreshold = 2_048

    private func compute(_ samples: [Float], threads: Int, decibels toDB: Bool) throws -> Spectrogram {
        let frames = stft.frameCount(samples: samples.count)
        let workers = frames < Self.parallelThreshold ? 1 : max(1, min(threads, frames / 1_024))
        var mel = Spectrogram(bins: configuration.nMels, frames: frames,
                              values: uninitializedFloats(configuration.nMels * frames))  // every value is written
        let squareFirst = toDB && configuration.power == 1
        let dbOffset = 10 * log10(max(decibels.amin, configuration.reference))
        try stft.withFrames(of: samples) { source in
            mel.values.withUnsafeMutableBufferPointer { output in
                let shared = SharedBuffers(source: source, output: output.baseAddress!)
                let run: @Sendable (Int) -> Void = { worker in
                    let range = (frames * worker / workers)..<(frames * (worker + 1) / workers)
                    self.melFrames(shared.source, range, into: shared.output, frames: frames,
                                   squareFirst: squareFirst, dbOffset: toDB ? dbOffset : nil)
                }
                if workers == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: run) }
            }
        }
        if toDB, let topDB = configuration.topDB {
            let floor = (mel.values.max() ?? 0) - topDB
            for i in mel.values.indices where mel.values[i] < floor { mel.values[i] = floor }
        }
        return mel
    }

    /// Frames `range` of the mel spectrogram, each written down its column of `output`.
    ///
    /// Frames go through in groups of `lanes`: their |X|^power spectra are interleaved
    /// bin by bin (`spectra[k * lanes + lane]`), so that the filter bank computes all
    /// of a group's frames in one SIMD pass per band and writes each band's results
    /// contiguously. Every lane sums in the same order as a one-frame loop would, so
    /// the values do not depend on the grouping.
    private func melFrames(_ source: FrameSource, _ range: Range<Int>,
                           into output: UnsafeMutablePointer<Float>, frames: Int, squareFirst: Bool,
                           dbOffset: Float?) {
        let lanes = MelFilterbank.lanes
        let bins = stft.bins
        let magnitude = configuration.power == 1
        let spectra = UnsafeMutablePointer<Float>.allocate(capacity: bins * lanes)
        defer { spectra.deallocate() }
        let buffers = FFTBuffers(size: stft.nFFT)
        for groupStart in stride(from: range.lowerBound, to: range.upperBound, by: lanes) {
            let group = groupStart..<min(groupStart + lanes, range.upperBound)
            for frame in group {
                stft.window(frame: frame, of: source, into: buffers)
                stft.fft.forwardPower(buffers, into: spectra + (frame - groupStart), stride: lanes)
            }
            if magnitude {
                for i in 0..<bins * lanes { spectra[i] = spectra[i].squareRoot() }
            }
            filterbank.applyLanes(spectra: spectra, into: output + groupStart, stride: frames, count: group.count)
        }
        guard let dbOffset else { return }
        // amplitude_to_db(M) == power_to_db(M^2): for power 1 the floor and reference stay in power units.
        for m in 0..<configuration.nMels {
            decibels.powerToDecibels(output + m * frames + range.lowerBound, count: range.count, offset: dbOffset,
                                     squareFirst: squareFirst)
        }
    }
}

/// The input every worker reads and the output whose disjoint columns they fill.
private struct SharedBuffers: @unchecked Sendable {
    let source: FrameSource
    let output: UnsafeMutablePointer<Float>
}
