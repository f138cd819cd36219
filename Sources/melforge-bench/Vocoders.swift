import AudioIO
import Foundation
import NeuralVocoder
import Spectral
import WorkerPool

/// `melforge-bench vocoders`: the same features through every vocoder, timed, and the sound
/// written for scoring.
func vocoderComparison(_ options: Options) throws {
    guard let path = options.vocoder, let out = options.out else { throw Usage() }
    let learned = try LearnedVocoder(checkpoint: path)
    let configuration = learned.configuration
    let frontEnd = try MelFrontEnd(configuration)
    let files = wavFiles(under: options.path)
    guard !files.isEmpty else { throw Usage() }
    let clips = try files.map { try AudioFile.read($0, sampleRate: configuration.sampleRate).samples }
    let features = try clips.map { try frontEnd.features($0) }
    let audioSeconds = Double(clips.reduce(0) { $0 + $1.count }) / Double(configuration.sampleRate)
    Workers.count = options.threads
    let vocoders: [(String, any Vocoder)] = [
        ("griffinlim-32", try GriffinLimVocoder(configuration: configuration, initialPhase: .random(seed: 0))),
        ("pghi", try GriffinLimVocoder(configuration: configuration, griffinLimIterations: 0, initialPhase: .pghi(seed: 0))),
        ("pghi+griffinlim-32", try GriffinLimVocoder(configuration: configuration, initialPhase: .pghi(seed: 0))),
        ("learned", learned),
    ]
    print("\(files.count) clips, \(String(format: "%.1f", audioSeconds)) s of audio, \(configuration.nMels) mel bands, "
          + "\(options.threads) threads; \(learned.name)")
    var timings: [String: Any] = ["clips": files.count, "audio_seconds": audioSeconds, "threads": options.threads,
                                  "learned_vocoder": learned.name]
    let relative = files.map { String($0.dropFirst(options.path.count + 1)) }
    try write(clips, names: relative, folder: out + "/original", rate: configuration.sampleRate)
    for (name, vocoder) in vocoders where options.only?.contains(name) ?? true {
        var made: [VocodedClip] = []
        let result = try measure(runs: options.runs) {
            made = try vocoder.synthesize(features, normalization: nil, threads: options.threads)
        }
        let seconds = median(result.runs.map(\.seconds))
        let perSecond = 1000 * seconds / audioSeconds
        print(String(format: "%-20@ %8.2f ms per audio-second (%.0fx real time)%@", name as NSString, perSecond,
                     1000 / perSecond, result.noisy ? "  [noisy]" : ""))
        timings[name] = ["ms_per_audio_second": perSecond, "times_real_time": 1000 / perSecond, "noisy": result.noisy]
        // Each clip at its original length (the inverse STFT gives whole hops).
        let sounds = zip(made, clips).map { clip, original in
            Array((clip.samples + [Float](repeating: 0, count: max(0, original.count - clip.samples.count))).prefix(original.count))
        }
        try write(sounds, names: relative, folder: out + "/" + name, rate: configuration.sampleRate)
    }
    let data = try JSONSerialization.data(withJSONObject: timings, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: out + "/timings.json"))
}

private func write(_ sounds: [[Float]], names: [String], folder: String, rate: Int) throws {
    for (sound, name) in zip(sounds, names) {
        let path = folder + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try AudioFile.write(sound, sampleRate: rate, to: path, encoding: .float32)
    }
}
