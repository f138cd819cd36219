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

/// The file type `AudioFile.write` produces, chosen by the path's extension.
public enum AudioContainer: String, CaseIterable, Sendable {
    case wav, flac, ogg, aiff

    /// `.wav`, `.flac`, `.ogg`/`.oga`, `.aiff`/`.aif` (any case); `nil` for anything else.
    public init?(path: String) {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
        switch path[path.index(after: dot)...].lowercased() {
        case "wav", "wave": self = .wav
        case "flac": self = .flac
        case "ogg", "oga": self = .ogg
        case "aiff", "aif": self = .aiff
        default: return nil
        }
    }

    var code: Int32 {
        switch self {
        case .wav: return Int32(SF_FORMAT_WAV)
        case .flac: return Int32(SF_FORMAT_FLAC)
        case .ogg: return Int32(SF_FORMAT_OGG)
        case .aiff: return Int32(SF_FORMAT_AIFF)
        }
    }
}

/// How `AudioFile.write` stores samples.
public enum SampleEncoding: String, CaseIterable, Sendable {
    /// Signed 16-bit PCM: round(x * 32768) clamped to [-32768, 32767], the inverse of
    /// libsndfile's x / 32768 on reading, so 16-bit audio round-trips exactly.
    case pcm16
    /// Signed 24-bit PCM (WAV, FLAC, AIFF).
    case pcm24
    /// IEEE 32-bit float, samples as they are (WAV, AIFF).
    case float32
    /// Ogg Vorbis, lossy (OGG only).
    case vorbis

    var code: Int32 {
        switch self {
        case .pcm16: return Int32(SF_FORMAT_PCM_16)
        case .pcm24: return Int32(SF_FORMAT_PCM_24)
        case .float32: return Int32(SF_FORMAT_FLOAT)
        case .vorbis: return Int32(SF_FORMAT_VORBIS)
        }
    }

    var clips: Bool { self != .float32 }
}

/// What writing a file did to its samples.
public struct WriteReport: Equatable, Sendable {
    /// Samples beyond full scale (|x| > 1) that the encoding could not hold and clamped.
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

    /// Writes `samples` (interleaved when `channels` > 1) atomically: a temporary file
    /// in the same folder, then a rename. The container comes from the extension
    /// (`AudioContainer`); non-finite samples are refused, since no PCM value means NaN.
    @discardableResult
    public static func write(_ samples: [Float], channels: Int = 1, sampleRate: Int, to path: String,
                             encoding: SampleEncoding = .pcm16) throws -> WriteReport {
        guard let container = AudioContainer(path: path) else {
            throw AudioError.invalidArgument(name: "output path", value: "'\(path)'",
                                             accepted: "a name ending in .wav, .flac, .ogg or .aiff")
        }
        guard supportedSampleRates.contains(sampleRate) else {
            throw AudioError.invalidArgument(
                name: "sample rate", value: "\(sampleRate) Hz",
                accepted: "\(supportedSampleRates.lowerBound)...\(supportedSampleRates.upperBound) Hz")
        }
        guard supportedChannelCounts.contains(channels), samples.count % channels == 0 else {
            throw AudioError.invalidArgument(name: "channels", value: "\(channels) for \(samples.count) samples",
                                             accepted: "1...1024 channels dividing the sample count")
        }
        var header = SF_INFO()
        header.samplerate = Int32(sampleRate)
        header.channels = Int32(channels)
        header.format = container.code | encoding.code
        guard sf_format_check(&header) != 0 else {
            let accepted = SampleEncoding.allCases.filter { candidate in
                var probe = header
                probe.format = container.code | candidate.code
                return sf_format_check(&probe) != 0
            }
            throw AudioError.invalidArgument(name: "encoding", value: "\(encoding.rawValue) in .\(container.rawValue)",
                                             accepted: accepted.map(\.rawValue).joined(separator: ", "))
        }
        if let bad = samples.firstIndex(where: { !$0.isFinite }) {
            throw AudioError.writeFailed(path: path, reason: "sample \(bad) is \(samples[bad]); only finite samples can be written")
        }
        let clipped = encoding.clips ? samples.reduce(0) { $0 + (abs($1) > 1 ? 1 : 0) } : 0
        let frames = samples.count / channels
        try AtomicFile.write(to: path) { temporaryPath in
            guard let file = sf_open(temporaryPath, Int32(SFM_WRITE), &header) else {
                throw AudioError.writeFailed(path: path, reason: String(cString: sf_strerror(nil)))
            }
            defer { sf_close(file) }
            let written: Int
            if encoding == .pcm16 {
                let pcm = samples.map { Int16(max(-32768, min(32767, ($0 * 32768).rounded()))) }
                written = pcm.withUnsafeBufferPointer { Int(sf_writef_short(file, $0.baseAddress, sf_count_t(frames))) }
            } else {
                // libsndfile clamps to full scale instead of wrapping around when asked to.
                sf_command(file, Int32(SFC_SET_CLIPPING), nil, 1)
                written = samples.withUnsafeBufferPointer { Int(sf_writef_float(file, $0.baseAddress, sf_count_t(frames))) }
            }
            guard written == frames else {
                throw AudioError.writeFailed(path: path, reason: String(cString: sf_strerror(file)))
            }
        }
        return WriteReport(clippedSamples: clipped)
    }

    /// The libsndfile version string, e.g. "libsndfile-1.2.0".
    public static var libraryVersion: String { String(cString: sf_version_string()) }
}
