import CSndFile
import FileFormats

/// A mono clip in memory.
public struct AudioClip: Sendable {
    /// Samples in [-1, 1] (float files may exceed it), at `sampleRate`.
    public var samples: [Float]
    public var sampleRate: Int
    /// What the file's header said, before mixing and resampling.
    public var source: AudioFormatInfo
    /// NaN/Inf samples replaced with silence (policy `.zero`).
    public var replacedSamples: Int

    public var duration: Double { Double(samples.count) / Double(sampleRate) }
}

/// How `AudioFile.write` stores samples.
public enum WAVEncoding: String, CaseIterable, Sendable {
    /// Signed 16-bit PCM: round(x * 32768) clamped to [-32768, 32767], the inverse of
    /// libsndfile's x / 32768 on reading, so 16-bit audio round-trips exactly.
    case pcm16
    /// IEEE 32-bit float, samples as they are.
    case float32
}

/// What writing a file did to its samples.
public struct WriteReport: Equatable, Sendable {
    /// Samples beyond full scale (|x| > 1) that PCM could not hold and clamped.
    public var clippedSamples: Int
}

public enum AudioFile {
    /// Sample rates accepted in headers and as targets: telephony to studio rates.
    public static let supportedSampleRates = 1_000...768_000
    /// Channel counts accepted in headers (libsndfile's own limit is 1024).
    public static let supportedChannelCounts = 1...1_024

    /// Reads the header only.
    public static func info(_ path: String) throws -> AudioFormatInfo {
        try AudioReader(path: path).info
    }

    /// Reads a whole file as mono Float32, resampled to `sampleRate` (nil keeps
    /// the file's rate). For long files, stream with `AudioReader` instead.
    public static func read(_ path: String, sampleRate: Int? = nil,
                            nonFinite: NonFiniteSamples = .reject) throws -> AudioClip {
        let reader = try AudioReader(path: path, sampleRate: sampleRate, nonFinite: nonFinite)
        let samples = try reader.readAll()
        return AudioClip(samples: samples, sampleRate: reader.sampleRate, source: reader.info,
                         replacedSamples: reader.replacedSamples)
    }

    /// Writes mono `samples` as a WAV file, atomically (a temporary file in the same
    /// folder, then a rename). Non-finite samples are refused: no PCM value means NaN.
    @discardableResult
    public static func write(_ samples: [Float], sampleRate: Int, to path: String,
                             encoding: WAVEncoding = .pcm16) throws -> WriteReport {
        guard supportedSampleRates.contains(sampleRate) else {
            throw AudioError.invalidArgument(
                name: "sample rate", value: "\(sampleRate) Hz",
                accepted: "\(supportedSampleRates.lowerBound)...\(supportedSampleRates.upperBound) Hz")
        }
        if let bad = samples.firstIndex(where: { !$0.isFinite }) {
            throw AudioError.writeFailed(path: path, reason: "sample \(bad) is \(samples[bad]); only finite samples can be written")
        }
        var clipped = 0
        try AtomicFile.write(to: path) { temporaryPath in
            var header = SF_INFO()
            header.samplerate = Int32(sampleRate)
            header.channels = 1
            header.format = Int32(SF_FORMAT_WAV) | Int32(
                encoding == .pcm16 ? SF_FORMAT_PCM_16 : SF_FORMAT_FLOAT)
            guard let file = sf_open(temporaryPath, Int32(SFM_WRITE), &header) else {
                throw AudioError.writeFailed(path: path, reason: String(cString: sf_strerror(nil)))
            }
            defer { sf_close(file) }
            let written: Int
            switch encoding {
            case .pcm16:
                let pcm = samples.map { x -> Int16 in
                    if abs(x) > 1 { clipped += 1 }
                    return Int16(max(-32768, min(32767, (x * 32768).rounded())))
                }
                written = pcm.withUnsafeBufferPointer { Int(sf_writef_short(file, $0.baseAddress, sf_count_t($0.count))) }
            case .float32:
                written = samples.withUnsafeBufferPointer { Int(sf_writef_float(file, $0.baseAddress, sf_count_t($0.count))) }
            }
            guard written == samples.count else {
                throw AudioError.writeFailed(path: path, reason: String(cString: sf_strerror(file)))
            }
        }
        return WriteReport(clippedSamples: clipped)
    }

    /// The libsndfile version string, e.g. "libsndfile-1.2.0".
    public static var libraryVersion: String { String(cString: sf_version_string()) }
}
