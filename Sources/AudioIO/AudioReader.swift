import CSndFile
import FileFormats

/// What a file's header says about its audio.
public struct AudioFormatInfo: Equatable, Sendable {
    public var sampleRate: Int
    public var channels: Int
    /// Frames the header announces; a truncated file may deliver fewer.
    public var frames: Int
    /// libsndfile's names, e.g. "WAV (Microsoft)" and "Signed 16 bit PCM".
    public var container: String
    public var encoding: String

    public var duration: Double { Double(frames) / Double(sampleRate) }
}

/// What to do with NaN or infinite samples (only float files can hold them).
public enum NonFiniteSamples: String, CaseIterable, Sendable {
    /// Throw `AudioError.nonFinite` naming the file, the count and the first frame.
    case reject
    /// Replace each with 0 (silence) and count them in `AudioReader.replacedSamples`.
    case zero
}

/// Streams a file libsndfile can read as mono Float32 blocks at a chosen rate.
///
/// Channels are averaged (librosa's `to_mono`); integer PCM is scaled to [-1, 1)
/// by libsndfile (x / 32768 for 16-bit); float files pass through as stored.
/// Memory stays bounded by the block size whatever the file's length.
public final class AudioReader {
    public let path: String
    public let info: AudioFormatInfo
    /// The rate of the samples `read` returns.
    public let sampleRate: Int
    public let nonFinite: NonFiniteSamples
    /// NaN/Inf samples replaced with 0 so far (policy `.zero`).
    public private(set) var replacedSamples = 0

    private var file: OpaquePointer?
    private let resampler: Resampler?
    private var interleaved: [Float] = []
    private var framesRead = 0
    private var finished = false

    /// Opens `path` for reading.
    /// - Parameter sampleRate: output rate; `nil` keeps the file's own.
    public init(path: String, sampleRate: Int? = nil, nonFinite: NonFiniteSamples = .reject) throws {
        let bytes = try checkInputFile(path)
        guard bytes > 0 else { throw AudioError.unreadable(path: path, reason: "the file is empty (0 bytes)") }
        if let sampleRate, !AudioFile.supportedSampleRates.contains(sampleRate) {
            let range = AudioFile.supportedSampleRates
            throw AudioError.invalidArgument(name: "sample rate", value: "\(sampleRate) Hz",
                                             accepted: "\(range.lowerBound)...\(range.upperBound) Hz")
        }

        var header = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &header) else {
            throw AudioError.unreadable(path: path, reason: String(cString: sf_strerror(nil)))
        }
        self.file = file
        self.path = path
        self.nonFinite = nonFinite
        self.info = AudioFormatInfo(
            sampleRate: Int(header.samplerate), channels: Int(header.channels),
            frames: Int(header.frames == Int64.max ? 0 : header.frames),
            container: Self.formatName(header.format & Int32(SF_FORMAT_TYPEMASK)),
            encoding: Self.formatName(header.format & Int32(SF_FORMAT_SUBMASK)))
        guard AudioFile.supportedSampleRates.contains(info.sampleRate) else {
            sf_close(file); self.file = nil
            throw AudioError.unsupportedSampleRate(path: path, sampleRate: info.sampleRate)
        }
        guard AudioFile.supportedChannelCounts.contains(info.channels) else {
            sf_close(file); self.file = nil
            throw AudioError.unsupportedChannelCount(path: path, channels: info.channels)
        }
        let outputRate = sampleRate ?? info.sampleRate
        self.sampleRate = outputRate
        self.resampler = outputRate == info.sampleRate ? nil : try Resampler(from: info.sampleRate, to: outputRate)
    }

    deinit { if let file { sf_close(file) } }

    /// The next block of about `maxFrames` source frames as mono samples at
    /// `sampleRate` (a resampled block's length varies); empty once the file is done.
    public func read(maxFrames: Int = 65536) throws -> [Float] {
        precondition(maxFrames > 0)
        guard !finished, let file else { return [] }
        let channels = info.channels
        if interleaved.count < maxFrames * channels {
            interleaved = [Float](repeating: 0, count: maxFrames * channels)
        }
        let count = interleaved.withUnsafeMutableBufferPointer {
            Int(sf_readf_float(file, $0.baseAddress, sf_count_t(maxFrames)))
        }
        if count < 0 || (count == 0 && sf_error(file) != 0) {
            throw AudioError.unreadable(path: path, reason: String(cString: sf_strerror(file)))
        }
        var mono = [Float](repeating: 0, count: count)
        if channels == 1 {
            mono.withUnsafeMutableBufferPointer { destination in
                interleaved.withUnsafeBufferPointer { destination.baseAddress!.update(from: $0.baseAddress!, count: count) }
            }
        } else {
            let scale = 1 / Float(channels)
            interleaved.withUnsafeBufferPointer { source in
                for frame in 0..<count {
                    var sum: Float = 0
                    for channel in 0..<channels { sum += source[frame * channels + channel] }
                    mono[frame] = sum * scale
                }
            }
        }
        try screenNonFinite(&mono, firstFrame: framesRead)
        framesRead += count

        if count == 0 {
            finished = true
            sf_close(file); self.file = nil
            if framesRead == 0 { throw AudioError.empty(path: path) }
            return try resampler?.finish() ?? []
        }
        guard let resampler else { return mono }
        let converted = try resampler.process(mono)
        // A block can be swallowed by the filter's delay; keep going until something comes out.
        return converted.isEmpty ? try read(maxFrames: maxFrames) : converted
    }

    /// Every remaining sample, read in blocks.
    public func readAll() throws -> [Float] {
        let ratio = Double(sampleRate) / Double(info.sampleRate)
        var samples: [Float] = []
        samples.reserveCapacity(Int(Double(min(info.frames, 1 << 28)) * ratio) + 64)
        let block = max(4096, min(info.frames, 1 << 20))
        while true {
            let next = try read(maxFrames: block)
            if next.isEmpty && finished { break }
            samples += next
        }
        return samples
    }

    private func screenNonFinite(_ samples: inout [Float], firstFrame: Int) throws {
        // The common case (all finite) costs one pass with no branches taken.
        var bad = 0
        for value in samples where !value.isFinite { bad += 1 }
        guard bad > 0 else { return }
        switch nonFinite {
        case .reject:
            let first = samples.firstIndex { !$0.isFinite }!
            throw AudioError.nonFinite(path: path, count: bad, firstFrame: firstFrame + first)
        case .zero:
            for i in samples.indices where !samples[i].isFinite { samples[i] = 0 }
            replacedSamples += bad
        }
    }

    private static func formatName(_ format: Int32) -> String {
        var query = SF_FORMAT_INFO()
        query.format = format
        guard sf_command(nil, Int32(SFC_GET_FORMAT_INFO), &query,
                         Int32(MemoryLayout<SF_FORMAT_INFO>.size)) == 0,
              let name = query.name
        else { return "format 0x" + String(format, radix: 16) }
        return String(cString: name)
    }
}
