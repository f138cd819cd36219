import FileFormats
import Foundation
import Spectral
import WorkerPool

// Dimension letters: M mel bands, K STFT bins, F a clip's frames, t a segment's frames.

/// What one row of a training batch reads: a segment of `t` frames of one clip.
public struct VocoderSegment: Sendable {
    /// dB `[M, t]`.
    public var features: [Float]
    /// Each `[K, t]`: the NNLS magnitude's logarithm, PGHI's phase of it, the true STFT's log
    /// magnitude and phase.
    public var logPrior: [Float], phasePrior: [Float], trueLogMagnitude: [Float], truePhase: [Float]
    /// The (t - 1) hop samples the frames are centred on, from the first frame's centre.
    public var samples: [Float]
}

/// The clips a vocoder trains on, read segment by segment: in memory (`VocoderClips`, for
/// small sets and tests) or on disk (`VocoderDataCache`, for corpora of any size).
public protocol VocoderCorpus: Sendable {
    var count: Int { get }
    func name(_ clip: Int) -> String
    /// Frames of clip `clip`'s features.
    func frames(_ clip: Int) -> Int
    /// Samples of clip `clip` (padded with silence to a segment when shorter).
    func sampleCount(_ clip: Int) -> Int
    /// The loudest feature value of clip `clip`, in dB.
    func peakDecibels(_ clip: Int) -> Float
    /// Frames `start..<start + frames` of clip `clip`, `hop` samples apart.
    func segment(_ clip: Int, start: Int, frames: Int, hop: Int) throws -> VocoderSegment
    /// Clip `clip`'s whole features, dB `[M, F]`.
    func features(_ clip: Int) throws -> Spectrogram
}

extension VocoderCorpus {
    /// Seconds of audio, at `hop` samples per frame and `rate` samples per second.
    public func seconds(hop: Int, rate: Int) -> Double {
        (0..<count).reduce(0) { $0 + Double(frames($1) - 1) } * Double(hop) / Double(rate)
    }
}

/// Prepared clips held in memory.
public struct VocoderClips: VocoderCorpus {
    public let clips: [VocoderClip]

    public init(_ clips: [VocoderClip]) { self.clips = clips }

    public var count: Int { clips.count }
    public func name(_ clip: Int) -> String { clips[clip].name }
    public func frames(_ clip: Int) -> Int { clips[clip].frames }
    public func sampleCount(_ clip: Int) -> Int { clips[clip].sampleCount }
    public func peakDecibels(_ clip: Int) -> Float { clips[clip].peakDecibels }
    public func features(_ clip: Int) throws -> Spectrogram { clips[clip].features }

    public func segment(_ index: Int, start: Int, frames t: Int, hop: Int) throws -> VocoderSegment {
        let clip = clips[index]
        let (frames, m, k) = (clip.frames, clip.features.bins, clip.logPrior.count / clip.frames)
        var features = [Float](repeating: 0, count: m * t)
        for band in 0..<m { for f in 0..<t { features[band * t + f] = clip.features.values[band * frames + start + f] } }
        func rows(_ values: [Float]) -> [Float] {
            var out: [Float] = []
            out.reserveCapacity(k * t)
            for bin in 0..<k { out += values[(bin * frames + start)..<(bin * frames + start + t)] }
            return out
        }
        let first = start * hop
        let samples = (0..<((t - 1) * hop)).map { first + $0 < clip.samples.count ? clip.samples[first + $0] : 0 }
        return VocoderSegment(features: features, logPrior: rows(clip.logPrior), phasePrior: rows(clip.phasePrior),
                              trueLogMagnitude: rows(clip.trueLogMagnitude), truePhase: rows(clip.truePhase), samples: samples)
    }
}

/// Prepared clips in a file, read a segment at a time (`pread`: through the page cache, never
/// held by the process), so that training takes the same memory for an hour of audio as for
/// a thousand hours. Each clip is stored as its samples, then its features frame by frame
/// (`[F, M]`), then its four spectra interleaved frame by frame (`[F, 4 K]`: log prior,
/// phase prior, true log magnitude, true phase), so a segment is three contiguous reads; the
/// values are the ones `VocoderClip` computes, bit for bit.
///
/// Beside the file, NAME.json holds the index (each clip's name, place, frames, samples and
/// peak) and a fingerprint of what made it (the files with their sizes and times, the front
/// end, the segment length and the NNLS iterations): a run resumed on the same data reuses the
/// file, anything else rebuilds it.
public final class VocoderDataCache: VocoderCorpus, @unchecked Sendable {
    public struct Entry: Codable, Sendable {
        public var name: String
        /// Byte offset of the clip in the file.
        public var offset: Int
        public var frames: Int
        public var samples: Int
        public var peakDecibels: Float
    }

    struct Index: Codable {
        var fingerprint: String
        var bands: Int
        var bins: Int
        var entries: [Entry]
    }

    public let path: String
    public let entries: [Entry]
    let (bands, bins): (Int, Int)
    let descriptor: Int32

    public var count: Int { entries.count }
    public func name(_ clip: Int) -> String { entries[clip].name }
    public func frames(_ clip: Int) -> Int { entries[clip].frames }
    public func sampleCount(_ clip: Int) -> Int { entries[clip].samples }
    public func peakDecibels(_ clip: Int) -> Float { entries[clip].peakDecibels }

    /// Opens the cache at `path` if its index's fingerprint is `fingerprint`; nil otherwise
    /// (missing, made from other data or settings, or unreadable).
    public static func open(_ path: String, fingerprint: String) -> VocoderDataCache? {
        guard let data = FileManager.default.contents(atPath: path + ".json"),
              let index = try? JSONDecoder().decode(Index.self, from: data), index.fingerprint == fingerprint,
              let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int else { return nil }
        // Every clip must lie inside the file (a file cut short is rebuilt, never read past).
        let sizeOf = { (e: Entry) in 4 * (e.samples + e.frames * (index.bands + 4 * index.bins)) }
        guard index.entries.allSatisfy({ $0.offset >= 0 && $0.offset + sizeOf($0) <= size }) else { return nil }
        return try? VocoderDataCache(path: path, index: index)
    }

    init(path: String, index: Index) throws {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: String(cString: strerror(errno))])
        }
        (self.path, entries, bands, bins, self.descriptor) = (path, index.entries, index.bands, index.bins, descriptor)
    }

    deinit { close(descriptor) }

    /// Prepares `count` clips (`prepare(i)`: clip i, or nil to skip it), `chunk` at a time on
    /// the workers, into a new cache at `path` (written whole, then renamed: a build that is
    /// stopped leaves nothing); `progress(done)` after each chunk.
    public static func build(_ path: String, fingerprint: String, count: Int, chunk: Int = 4 * Workers.count,
                             prepare: @Sendable (Int) throws -> VocoderClip?, progress: (Int) -> Void) throws -> VocoderDataCache {
        var entries: [Entry] = []
        var (bands, bins) = (0, 0)
        try AtomicFile.write(to: path) { temporary in
            guard FileManager.default.createFile(atPath: temporary, contents: nil), let out = FileHandle(forWritingAtPath: temporary) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
            }
            defer { try? out.close() }
            var offset = 0
            for first in stride(from: 0, to: count, by: max(1, chunk)) {
                let clips = try Workers.each(min(chunk, count - first)) { try prepare(first + $0) }
                for clip in clips.compactMap({ $0 }) {
                    let (f, m) = (clip.frames, clip.features.bins)
                    let k = clip.logPrior.count / f
                    (bands, bins) = (m, k)
                    var values = clip.samples
                    values.reserveCapacity(clip.samples.count + f * (m + 4 * k))
                    for frame in 0..<f { for band in 0..<m { values.append(clip.features.values[band * f + frame]) } }
                    for frame in 0..<f {
                        for array in [clip.logPrior, clip.phasePrior, clip.trueLogMagnitude, clip.truePhase] {
                            for bin in 0..<k { values.append(array[bin * f + frame]) }
                        }
                    }
                    try out.write(contentsOf: values.withUnsafeBytes { Data($0) })
                    entries.append(Entry(name: clip.name, offset: offset, frames: f, samples: clip.samples.count,
                                         peakDecibels: clip.peakDecibels))
                    offset += 4 * values.count
                }
                progress(min(count, first + chunk))
            }
            try out.synchronize()
        }
        let index = Index(fingerprint: fingerprint, bands: bands, bins: bins, entries: entries)
        try AtomicFile.write(Array(try JSONEncoder().encode(index)), to: path + ".json")
        return try VocoderDataCache(path: path, index: index)
    }

    /// `count` floats from byte `offset`.
    func read(_ count: Int, at offset: Int) throws -> [Float] {
        var values = [Float](repeating: 0, count: count)
        var done = 0
        try values.withUnsafeMutableBytes { buffer in
            while done < buffer.count {
                let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey:
                        "the vocoder's data cache '\(path)' ends early or cannot be read (\(n < 0 ? String(cString: strerror(errno)) : "end of file")); delete it to rebuild"])
                }
                done += n
            }
        }
        return values
    }

    public func segment(_ clip: Int, start: Int, frames t: Int, hop: Int) throws -> VocoderSegment {
        let e = entries[clip]
        let (m, k) = (bands, bins)
        // Samples: (t - 1) hop from start hop, silence past the end.
        let first = start * hop
        let wanted = (t - 1) * hop
        var samples = try read(max(0, min(wanted, e.samples - first)), at: e.offset + 4 * first)
        if samples.count < wanted { samples += [Float](repeating: 0, count: wanted - samples.count) }
        let featureBase = e.offset + 4 * e.samples
        let byFrame = try read(t * m, at: featureBase + 4 * start * m)
        var features = [Float](repeating: 0, count: m * t)
        for f in 0..<t { for band in 0..<m { features[band * t + f] = byFrame[f * m + band] } }
        let spectra = try read(t * 4 * k, at: featureBase + 4 * e.frames * m + 4 * start * 4 * k)
        var arrays = [[Float]](repeating: [Float](repeating: 0, count: k * t), count: 4)
        for f in 0..<t { for a in 0..<4 { for bin in 0..<k { arrays[a][bin * t + f] = spectra[(f * 4 + a) * k + bin] } } }
        return VocoderSegment(features: features, logPrior: arrays[0], phasePrior: arrays[1], trueLogMagnitude: arrays[2],
                              truePhase: arrays[3], samples: samples)
    }

    public func features(_ clip: Int) throws -> Spectrogram {
        let e = entries[clip]
        let byFrame = try read(e.frames * bands, at: e.offset + 4 * e.samples)
        var values = [Float](repeating: 0, count: bands * e.frames)
        for f in 0..<e.frames { for band in 0..<bands { values[band * e.frames + f] = byFrame[f * bands + band] } }
        return Spectrogram(bins: bands, frames: e.frames, values: values)
    }
}
