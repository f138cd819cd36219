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
    /// 16 or 32 when the file holds integer PCM that `readMono` converts itself.
    private let integerWidth: Int?
    private var framesRead = 0
    private var scratchBuffer: UnsafeMutableRawPointer?
    private var scratchBytes = 0
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
        switch header.format & Int32(SF_FORMAT_SUBMASK) {
        case Int32(SF_FORMAT_PCM_16): integerWidth = 16
        case Int32(SF_FORMAT_PCM_24), Int32(SF_FORMAT_PCM_32): integerWidth = 32
        default: integerWidth = nil
        }
        let outputRate = sampleRate ?? info.sampleRate
        self.sampleRate = outputRate
        self.resampler = outputRate == info.sampleRate ? nil : try Resampler(from: info.sampleRate, to: outputRate)
    }

    deinit {
        if let file { sf_close(file) }
        scratchBuffer?.deallocate()
    }

    /// The next block of about `maxFrames` source frames as mono samples at
    /// `sampleRate` (a resampled block's length varies); empty once the file is done.
    public func read(maxFrames: Int = 65536) throws -> [Float] {
        precondition(maxFrames > 0)
        guard !finished else { return [] }
        let block = try [Float](unsafeUninitializedCapacity: maxFrames) { buffer, initialized in
            initialized = try readMono(into: buffer.baseAddress!, maxFrames: maxFrames)
        }
        if block.isEmpty {
            return try resampler?.finish() ?? []
        }
        guard let resampler else { return block }
        let converted = try resampler.process(block)
        // A block can be swallowed by the filter's delay; keep going until something comes out.
        return converted.isEmpty ? try read(maxFrames: maxFrames) : converted
    }

    /// Every remaining sample.
    public func readAll() throws -> [Float] {
        guard resampler == nil else {
            var samples: [Float] = []
            while case let block = try read(maxFrames: 1 << 16), !block.isEmpty { samples += block }
            return samples
        }
        // Decode straight into one array sized by the header (capped: a header can lie),
        // then pick up whatever the header did not announce.
        let announced = max(1, min(info.frames, 1 << 30))
        var samples = try [Float](unsafeUninitializedCapacity: announced) { buffer, initialized in
            initialized = try readMono(into: buffer.baseAddress!, maxFrames: announced)
        }
        while case let block = try read(maxFrames: 1 << 14), !block.isEmpty { samples += block }
        return samples
    }

    /// Frames decoded per libsndfile call: bounds the scratch memory whatever the file's length.
    private static let chunkFrames = 32_768

    /// Decodes up to `maxFrames` frames as mono floats into `output`; returns how many
    /// (0 once the file is done, after which the file is closed).
    ///
    /// Integer PCM is read as integers and scaled here with the factors libsndfile itself
    /// uses (1 / 2^15 for 16-bit, 1 / 2^31 for 24- and 32-bit read as left-aligned 32-bit
    /// ints), so the samples are the same as through `sf_readf_float`, whose own
    /// conversion costs ten times the decoding (36 us against 17 us for a 1 s 16-bit
    /// clip, open and close included). Channels are averaged on the way.
    private func readMono(into output: UnsafeMutablePointer<Float>, maxFrames: Int) throws -> Int {
        guard let file else { return 0 }
        let channels = info.channels
        var done = 0
        while done < maxFrames {
            let want = min(Self.chunkFrames, maxFrames - done)
            let destination = output + done
            let got: Int
            switch (integerWidth, channels) {
            case (nil, 1):
                got = Int(sf_readf_float(file, destination, sf_count_t(want)))
            case (nil, _):
                let floats = scratch(bytes: want * channels * 4).assumingMemoryBound(to: Float.self)
                got = Int(sf_readf_float(file, floats, sf_count_t(want)))
                Self.mix(max(0, got), channels, into: destination) { floats[$0] }
            case (16, _):
                let shorts = scratch(bytes: want * channels * 2).assumingMemoryBound(to: Int16.self)
                got = Int(sf_readf_short(file, shorts, sf_count_t(want)))
                Self.mix(max(0, got), channels, into: destination) { Float(shorts[$0]) * (1 / 32_768) }
            default:
                let ints = scratch(bytes: want * channels * 4).assumingMemoryBound(to: Int32.self)
                got = Int(sf_readf_int(file, ints, sf_count_t(want)))
                Self.mix(max(0, got), channels, into: destination) { Float(ints[$0]) * (1 / 2_147_483_648) }
            }
            if got < 0 || (got == 0 && sf_error(file) != 0) {
                throw AudioError.unreadable(path: path, reason: String(cString: sf_strerror(file)))
            }
            try screenNonFinite(destination, count: got, firstFrame: framesRead)
            framesRead += got
            done += got
            if got < want { break }
        }
        if done == 0 {
            finished = true
            sf_close(file)
            self.file = nil
            if framesRead == 0 { throw AudioError.empty(path: path) }
        }
        return done
    }

    /// `output[f] = mean over channels of sample(f * channels + c)` for `frames` frames.
    @inline(__always)
    private static func mix(_ frames: Int, _ channels: Int, into output: UnsafeMutablePointer<Float>,
                            _ sample: (Int) -> Float) {
        if channels == 1 {
            for f in 0..<frames { output[f] = sample(f) }
            return
        }
        let scale = 1 / Float(channels)
        for f in 0..<frames {
            var sum: Float = 0
            for c in 0..<channels { sum += sample(f * channels + c) }
            output[f] = sum * scale
        }
    }

    /// A scratch buffer of at least `bytes`, kept between calls.
    private func scratch(bytes: Int) -> UnsafeMutableRawPointer {
        if scratchBytes < bytes {
            scratchBuffer?.deallocate()
            scratchBuffer = .allocate(byteCount: bytes, alignment: 16)
            scratchBytes = bytes
        }
        return scratchBuffer!
    }

    private func screenNonFinite(_ samples: UnsafeMutablePointer<Float>, count: Int, firstFrame: Int) throws {
        // The common case (all finite) is one branch-free pass that vectorises: a float is
        // NaN or infinite exactly when its exponent bits are all ones, and adding one to
        // that exponent carries into the sign bit.
        var flags: UInt32 = 0
        for i in 0..<count { flags |= (samples[i].bitPattern & 0x7F80_0000) &+ 0x0080_0000 }
        guard flags & 0x8000_0000 != 0 else { return }
        let bad = (0..<count).filter { !samples[$0].isFinite }
        switch nonFinite {
        case .reject:
            throw AudioError.nonFinite(path: path, count: bad.count, firstFrame: firstFrame + bad[0])
        case .zero:
            for i in bad { samples[i] = 0 }
            replacedSamples += bad.count
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
