// melforge-bench: measures MelForge's hot paths and prints; it asserts nothing.
//
//   melforge-bench frontend DIR [--runs 5] [--threads 2] [--json OUT.json]
//       read + 80-band log-mel (the `spectrogram` defaults) of every .wav under DIR, the
//       work ../shared/bench/bench_frontend.py gives librosa and torchaudio.
//   melforge-bench frontend-long FILE [--runs 5] [--threads 2] [--json OUT.json]
//       the same for one long file, split across threads by frames.
//   melforge-bench vocoders DIR --vocoder RUN --out OUT [--runs 3] [--threads 2] [--only learned,pghi]
//       every .wav under DIR -> the learned vocoder RUN's features -> each vocoder (Griffin-Lim 32
//       from random phase, PGHI, PGHI + Griffin-Lim 32, the learned one), timed over the whole
//       set; writes OUT/<vocoder>/<clip>.wav and OUT/original/<clip>.wav for
//       Scripts/vocoder-quality.py to score, and OUT/timings.json.
//
// Scripts/bench-frontend.sh runs these beside the Python references in one go.
import AudioIO
import BLAS
import NeuralVocoder
import Layers
import Tensors
import Dispatch
import Foundation
import Spectral

struct Options {
    var command = ""
    var path = ""
    var runs = 5
    var threads = 2
    var json: String?
    var nnlsIterations = 50  // MelInversion's default
    var vocoder: String?
    var out: String?
    /// `vocoders`: only these (by name), e.g. "learned" for a learning curve's points.
    var only: Set<String>?

    init(_ arguments: [String]) throws {
        var rest = arguments.dropFirst()
        guard let command = rest.popFirst(), let path = rest.popFirst() else { throw Usage() }
        self.command = command
        self.path = path
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw Usage() }
            switch flag {
            case "--runs": runs = Int(value) ?? 0
            case "--threads": threads = Int(value) ?? 0
            case "--json": json = value
            case "--nnls": nnlsIterations = Int(value) ?? -1
            case "--vocoder": vocoder = value
            case "--out": out = value
            case "--only": only = Set(value.split(separator: ",").map(String.init))
            default: throw Usage()
            }
        }
        guard runs >= 1, threads >= 1 else { throw Usage() }
    }
}

struct Usage: Error, CustomStringConvertible {
    var description: String {
        "usage: melforge-bench frontend DIR | frontend-long FILE [--runs N] [--threads N] [--json OUT]"
    }
}

// MARK: Measuring

/// CPU time of the whole machine and of this process, to tell a quiet run from a noisy one
/// (the same reading ../shared/bench/cpu_noise.py makes).
struct CPUReading {
    var machineBusy: Double
    var own: Double
    var wall: Double

    static func now() -> CPUReading {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var busy = 0.0
        if let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
           let line = stat.split(separator: "\n").first {
            let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            if v.count >= 7 { busy = (v[0] + v[1] + v[2] + v[5] + v[6]) / ticks }
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let own = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return CPUReading(machineBusy: busy, own: own, wall: Double(time.tv_sec) + Double(time.tv_nsec) / 1e9)
    }
}

struct Run {
    var seconds: Double
    /// Cores other processes kept busy meanwhile.
    var otherCores: Double
}

/// Times `work` until `runs` quiet runs (other processes below 0.15 cores) or 3 * runs attempts.
func measure(runs: Int, _ work: () throws -> Void) rethrows -> (runs: [Run], noisy: Bool) {
    try work()  // warm-up: FFTW plans, page cache
    var quiet: [Run] = [], all: [Run] = []
    for _ in 0..<(3 * runs) where quiet.count < runs {
        let before = CPUReading.now()
        try work()
        let after = CPUReading.now()
        let wall = after.wall - before.wall
        let others = max(0, (after.machineBusy - before.machineBusy) - (after.own - before.own)) / wall
        let run = Run(seconds: wall, otherCores: others)
        all.append(run)
        if others < 0.15 { quiet.append(run) }
    }
    return quiet.count >= runs ? (quiet, false) : (all, true)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// Every `.wav` under `folder`, sorted.
func wavFiles(under folder: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
    return walker.compactMap { $0 as? String }.filter { $0.lowercased().hasSuffix(".wav") }
        .sorted().map { folder + "/" + $0 }
}

/// Runs `body(i)` for i in 0..<count on `threads` workers taking interleaved indices.
func parallelFor(_ count: Int, threads: Int, _ body: @Sendable (Int) throws -> Void) throws {
    let failure = Mutex<(any Error)?>(nil)
    DispatchQueue.concurrentPerform(iterations: threads) { worker in
        for i in stride(from: worker, to: count, by: threads) {
            do { try body(i) } catch { failure.withLock { $0 = error }; return }
        }
    }
    if let error = failure.withLock({ $0 }) { throw error }
}

import Synchronization

// MARK: Commands

func report(_ name: String, _ result: (runs: [Run], noisy: Bool), audioSeconds: Double, items: Int) -> [String: Any] {
    let seconds = result.runs.map(\.seconds)
    let med = median(seconds)
    let others = median(result.runs.map(\.otherCores))
    let runsText = seconds.map { String(format: "%.4f", $0) }.joined(separator: ", ")
    print(name.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: " runs [%@] s  median %.4f s  %9.0f x real time  %.4f ms/item  [others %.2f cores%@]",
                 runsText as NSString, med, audioSeconds / med, 1e3 * med / Double(items),
                 others, result.noisy ? ", NOISY" : ""))
    return ["wall_s": seconds, "median_s": med, "xRT": audioSeconds / med, "ms_per_item": 1e3 * med / Double(items),
            "noisy": result.noisy, "other_cores": others]
}

func frontEndBenchmark(_ options: Options) throws {
    let frontEnd = try MelFrontEnd(FrontEndConfiguration())
    let files = options.command == "frontend" ? wavFiles(under: options.path) : [options.path]
    guard !files.isEmpty else { throw AudioError.invalidArgument(name: "DIR", value: options.path, accepted: "a folder with .wav files") }
    let audio = try files.map { try AudioFile.read($0, sampleRate: 16_000).samples }
    let audioSeconds = Double(audio.reduce(0) { $0 + $1.count }) / 16_000
    print("files: \(files.count)  audio: \(String(format: "%.1f", audioSeconds)) s  threads: \(options.threads)")
    let threads = options.threads
    var results: [String: Any] = [:]

    if files.count == 1 {
        // One long file: the front end splits its frames across the threads.
        results["melforge_read+mel"] = report("melforge_read+mel", try measure(runs: options.runs) {
            let samples = try AudioFile.read(files[0], sampleRate: 16_000).samples
            _ = try frontEnd.features(samples, threads: threads)
        }, audioSeconds: audioSeconds, items: 1)
        results["melforge_mel"] = report("melforge_mel", try measure(runs: options.runs) {
            _ = try frontEnd.features(audio[0], threads: threads)
        }, audioSeconds: audioSeconds, items: 1)
    } else {
        // Many clips: one clip per task, the threads sharing the list.
        results["melforge_read+mel"] = report("melforge_read+mel", try measure(runs: options.runs) {
            try parallelFor(files.count, threads: threads) { i in
                let samples = try AudioFile.read(files[i], sampleRate: 16_000).samples
                _ = try frontEnd.features(samples, threads: 1)
            }
        }, audioSeconds: audioSeconds, items: files.count)
        results["melforge_read"] = report("melforge_read", try measure(runs: options.runs) {
            try parallelFor(files.count, threads: threads) { i in _ = try AudioFile.read(files[i], sampleRate: 16_000) }
        }, audioSeconds: audioSeconds, items: files.count)
        results["melforge_mel"] = report("melforge_mel", try measure(runs: options.runs) {
            try parallelFor(audio.count, threads: threads) { i in _ = try frontEnd.features(audio[i], threads: 1) }
        }, audioSeconds: audioSeconds, items: files.count)
    }
    if let json = options.json {
        let info: [String: Any] = ["files": files.count, "audio_s": audioSeconds, "threads": threads,
                                   "fftw": RealFFT.libraryVersion, "libsndfile": AudioFile.libraryVersion,
                                   "results": results]
        try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: json))
    }
}

/// The clips `../shared/bench/bench_griffinlim.py` takes from a folder: at most `limit`,
/// evenly spaced in sorted order (numpy's linspace rounded), or the file itself.
func clipSet(_ path: String, limit: Int) -> [String] {
    guard isDirectoryPath(path) else { return [path] }
    let files = wavFiles(under: path)
    guard files.count > limit else { return files }
    return (0..<limit).map { i in files[Int((Double(i) * Double(files.count - 1) / Double(limit - 1)).rounded())] }
}

func isDirectoryPath(_ path: String) -> Bool {
    var isFolder: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
}

/// Griffin-Lim, 32 iterations, momentum 0.99, random phase, from |STFT| (n_fft 1024, hop 256,
/// reflect padding, as the reference) of each clip; all clips of the set at once on the threads.
func griffinLimBenchmark(_ options: Options) throws {
    let files = clipSet(options.path, limit: 10)
    let clips = try files.map { try AudioFile.read($0, sampleRate: 16_000).samples }
    let audioSeconds = Double(clips.reduce(0) { $0 + $1.count }) / 16_000
    let stft = try STFT(nFFT: 1_024, hopLength: 256, padMode: .reflect)
    let magnitudes = try clips.map { try stft.magnitude($0) }
    let griffinLim = try GriffinLim(stft: stft, iterations: 32, momentum: 0.99, initialPhase: .random(seed: 0))
    let lengths = clips.map { Optional($0.count) }
    var convergence: [Float] = []
    let result = try measure(runs: options.runs) {
        convergence = try griffinLim.reconstruct(magnitudes, lengths: lengths, threads: options.threads).map(\.finalConvergence)
    }
    let med = median(result.runs.map(\.seconds))
    let meanSC = convergence.reduce(0, +) / Float(convergence.count)
    print("== \(options.path): \(files.count) clips, \(String(format: "%.2f", audioSeconds)) s audio, threads \(options.threads)")
    print(String(format: "  melforge_gl         %8.2f ms per audio-s  SC mean %.4f [min %.4f max %.4f]%@",
                 1e3 * med / audioSeconds, meanSC, convergence.min()!, convergence.max()!, result.noisy ? "  NOISY" : ""))

    // The same from the phase Phase Gradient Heap Integration finds: alone, and as the start
    // of 8, 16 and 32 iterations (to compare with 32 from random at equal time).
    for iterations in [0, 8, 16, 32] {
        let fromPGHI = try GriffinLim(stft: stft, iterations: iterations, momentum: 0.99, initialPhase: .pghi(seed: 0))
        var pghiConvergence: [Float] = []
        let timed = try measure(runs: options.runs) {
            pghiConvergence = try fromPGHI.reconstruct(magnitudes, lengths: lengths, threads: options.threads).map(\.finalConvergence)
        }
        let pghiMedian = median(timed.runs.map(\.seconds))
        let meanPGHI = pghiConvergence.reduce(0, +) / Float(pghiConvergence.count)
        print(String(format: "  melforge_pghi+%-3d   %8.2f ms per audio-s  SC mean %.4f [min %.4f max %.4f]%@", iterations,
                     1e3 * pghiMedian / audioSeconds, meanPGHI, pghiConvergence.min()!, pghiConvergence.max()!,
                     timed.noisy ? "  NOISY" : ""))
    }

    // mel -> audio: 80-band Slaney mel of |S|^2, NNLS back to power, square root, Griffin-Lim.
    let filterbank = try MelFilterbank(sampleRate: 16_000, nFFT: 1_024, nMels: 80)
    let inversion = try MelInversion(filterbank: filterbank, iterations: options.nnlsIterations)
    let mels = try magnitudes.map { magnitude in
        try filterbank.apply(Spectrogram(bins: magnitude.bins, frames: magnitude.frames, values: magnitude.values.map { $0 * $0 }))
    }
    for (label, start) in [("random", GriffinLim.InitialPhase.random(seed: 0)), ("pghi", .pghi(seed: 0))] {
        var vocoder = griffinLim
        vocoder.initialPhase = start
        var linear: [Spectrogram] = []
        var audio: [GriffinLim.Result] = []
        let melResult = try measure(runs: options.runs) {
            linear = try parallelMap(mels, threads: options.threads) { mel -> Spectrogram in
                var power = try inversion.invert(mel)
                for i in power.values.indices { power.values[i] = power.values[i].squareRoot() }
                return power
            }
            audio = try vocoder.reconstruct(linear, lengths: lengths, threads: options.threads)
        }
        // Against the original |STFT|, not the estimate Griffin-Lim was given.
        let stftConvergence = zip(linear, magnitudes).map { Float(spectralConvergence(reference: $1.values, estimate: $0.values)) }
        convergence = try zip(audio, magnitudes).map { Float(try spectralConvergence(of: $0.samples, against: $1, stft: stft)) }
        let melMedian = median(melResult.runs.map(\.seconds))
        print(String(format: "  melforge_mel2audio  %8.2f ms per audio-s  SC mean %.4f [min %.4f max %.4f]  (from %@ phase; NNLS %d iterations: SC of the magnitude alone %.4f)%@",
                     1e3 * melMedian / audioSeconds, convergence.reduce(0, +) / Float(convergence.count), convergence.min()!,
                     convergence.max()!, label, options.nnlsIterations, stftConvergence.reduce(0, +) / Float(stftConvergence.count),
                     melResult.noisy ? "  NOISY" : ""))
    }
}

/// `transform` of every element on `threads` workers, results in order.
func parallelMap<T: Sendable, R: Sendable>(_ items: [T], threads: Int, _ transform: @Sendable (T) throws -> R) throws -> [R] {
    let results = Mutex<[R?]>(Array(repeating: nil, count: items.count))
    try parallelFor(items.count, threads: threads) { i in
        let value = try transform(items[i])
        results.withLock { $0[i] = value }
    }
    return results.withLock { $0.map { $0! } }
}

/// The reference GAN's convolution layers one by one (batch 64), forward and backward, on each
/// engine: which path is faster for which layer; then the discriminator's four as one stack.
func layerBenchmark(_ options: Options) {
    var random = RandomNumbers(seed: 3)
    typealias Layer = (name: String, input: [Int], run: () -> Void)
    func timed(_ body: () -> Void) -> Double {
        body()
        var times: [Double] = []
        for _ in 0..<max(3, options.runs) {
            let start = Date()
            body()
            times.append(Date().timeIntervalSince(start))
        }
        return median(times) * 1e3
    }
    let discriminator = [(1, 32, 64), (32, 64, 32), (64, 128, 16), (128, 256, 8)]
    let generator = [(256, 128, 4), (128, 64, 8), (64, 32, 16), (32, 1, 32)]
    for engine in [ConvolutionEngine.im2col, .oneDNN(.fp32), .oneDNN(.bf16)] {
        ConvolutionEngine.current = engine
        var line = "\(engine):"
        var convolutions: [Conv2D] = []
        for (c, o, size) in discriminator {
            let conv = Conv2D(inputChannels: c, outputChannels: o, kernelSize: 5, stride: 2, padding: 2, random: &random)
            let x = random.normal([64, c, size, size])
            let (y, cache) = conv.forward(x)
            let forward = timed { _ = conv.forward(x) }
            let backward = timed { _ = conv.backward(y, cache: cache) }
            line += String(format: "  D %d->%d fwd %.1f bwd %.1f", c, o, forward, backward)
            convolutions.append(conv)
        }
        // The four with their LeakyReLU as the discriminator runs them (on oneDNN, one stack).
        let stack = ConvolutionStack(convolutions, activation: .leakyReLU(slope: 0.2))
        let image = random.normal([64, 1, 64, 64])
        let (features, stackCache) = stack.forward(image)
        let stackForward = timed { _ = stack.forward(image) }
        let stackBackward = timed { _ = stack.backward(features, cache: stackCache) }
        line += String(format: "  D stack + LeakyReLU fwd %.1f bwd %.1f", stackForward, stackBackward)
        for (c, o, size) in generator {
            let deconv = ConvTranspose2D(inputChannels: c, outputChannels: o, kernelSize: 5, stride: 2, padding: 2, outputPadding: 1,
                                         random: &random)
            let x = random.normal([64, c, size, size])
            let (y, cache) = deconv.forward(x)
            let forward = timed { _ = deconv.forward(x) }
            let backward = timed { _ = deconv.backward(y, cache: cache) }
            line += String(format: "  G %d->%d fwd %.1f bwd %.1f", c, o, forward, backward)
        }
        print(line)
    }
}

/// OpenBLAS sgemm of size `path`^3 (default 2048), the peak the training steps are measured
/// against (../shared/bench/bench_gemm.py measures numpy's and torch's the same way).
func gemmBenchmark(_ options: Options) {
    let n = Int(options.path) ?? 2_048
    var random = SplitMixNoise(seed: 1)
    let a = (0..<n * n).map { _ in random.next() }, b = (0..<n * n).map { _ in random.next() }
    var c = [Float](repeating: 0, count: n * n)
    let result = measure(runs: options.runs) { BLAS.sgemm(m: n, n: n, k: n, a: a, b: b, c: &c) }
    let seconds = median(result.runs.map(\.seconds))
    print(String(format: "OpenBLAS %@ sgemm %d^3, %d threads: median %.1f GFLOP/s", BLAS.kernel, n, BLAS.threads,
                 2 * pow(Double(n), 3) / seconds / 1e9))
}

/// Deterministic values in [-1, 1) for benchmark inputs.
struct SplitMixNoise {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Float((z ^ (z >> 31)) >> 40) / Float(1 << 23) - 1
    }
}

/// One real FFT of size `path` (a number) on the same buffers, repeated: the transform alone.
func fftBenchmark(_ options: Options) {
    let size = Int(options.path) ?? 1_024
    let fft = RealFFT.plan(size: size)
    let buffers = FFTBuffers(size: size)
    for n in 0..<size { buffers.real[n] = Float(n % 7) * 0.1 }
    let repetitions = 100_000
    for direction in ["forward", "inverse"] {
        let result = measure(runs: options.runs) {
            for _ in 0..<repetitions {
                if direction == "forward" { fft.forward(buffers) } else { fft.inverse(buffers) }
            }
        }
        let perTransform = median(result.runs.map(\.seconds)) / Double(repetitions) * 1e6
        print("RealFFT \(direction) n=\(size): \(String(format: "%.3f", perTransform)) us per transform")
    }
}

do {
    let options = try Options(CommandLine.arguments)
    switch options.command {
    case "frontend", "frontend-long": try frontEndBenchmark(options)
    case "fft": fftBenchmark(options)
    case "griffinlim": try griffinLimBenchmark(options)
    case "gemm": gemmBenchmark(options)
    case "layers": layerBenchmark(options)
    case "vocoders": try vocoderComparison(options)
    default: throw Usage()
    }
} catch {
    FileHandle.standardError.write(Data("melforge-bench: \(error)\n".utf8))
    exit(1)
}
