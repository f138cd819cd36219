import ArgumentParser
import AudioIO
import FileFormats
import Foundation
import Layers
import Models
import NeuralVocoder
import Pipeline
import Spectral
import Training

extension Window: ExpressibleByArgument {}
extension PadMode: ExpressibleByArgument {}
extension MelScale: ExpressibleByArgument {}
extension MelNorm: ExpressibleByArgument {}
extension FrontEndConfiguration.OutputScale: ExpressibleByArgument {}
extension NonFiniteSamples: ExpressibleByArgument {}
extension ColorMap: ExpressibleByArgument {}
extension GANLoss: ExpressibleByArgument {}
extension StepBenchmark.Model: ExpressibleByArgument {}
extension SpectrogramPicture.Style: ExpressibleByArgument {}

extension TrainingConfiguration.Model: ExpressibleByArgument {
    public init?(argument: String) {
        guard ModelRegistry.kinds.contains(Self(rawValue: argument)) else { return nil }
        self.init(rawValue: argument)
    }

    public static var allValueStrings: [String] { ModelRegistry.kinds.map(\.rawValue) }
}

/// The front-end flags shared by every command that turns audio into features.
struct FrontEndOptions: ParsableArguments {
    @Option(help: "Sample rate in Hz the audio is resampled to (libsoxr, high quality).")
    var sampleRate = 16_000

    @Option(name: .customLong("n-fft"), help: "FFT size in samples.")
    var nFFT = 1_024

    @Option(help: "Samples between frames.")
    var hopLength = 256

    @Option(help: "Window length in samples, at most --n-fft (default: --n-fft).")
    var winLength: Int?

    @Option(help: "Analysis window: \(Window.allCases.map(\.rawValue).joined(separator: ", ")).")
    var window = Window.hann

    @Flag(inversion: .prefixedNo, help: "Pad both ends by n-fft/2 so frame t is centred on sample t*hop.")
    var center = true

    @Option(help: "Padding for --center: constant (zeros) or reflect.")
    var padMode = PadMode.constant

    @Option(help: "Number of mel bands (default: 80; 64 for train and classifier train).")
    var nMels: Int?

    @Option(help: "Lowest filter edge in Hz.")
    var fMin = 0.0

    @Option(help: "Highest filter edge in Hz (default: sample-rate / 2).")
    var fMax: Double?

    @Option(help: "Exponent of |STFT| before the filter bank: 2 (power) or 1 (magnitude).")
    var power: Float = 2

    @Option(help: "Mel scale: slaney (librosa's default) or htk.")
    var melScale = MelScale.slaney

    @Option(help: "Filter normalisation: slaney (area, librosa's default) or none (peak 1).")
    var melNorm = MelNorm.slaney

    @Option(help: "Output scale: db (power_to_db) or power (the mel spectrogram itself).")
    var scale = FrontEndConfiguration.OutputScale.db

    @Option(name: .customLong("ref"), help: "dB reference power: this power is 0 dB.")
    var reference: Float = 1

    @Option(help: "Power floor before the logarithm.")
    var amin: Float = 1e-10

    @Option(name: .customLong("top-db"), help: "Keep this many dB below the peak (default: keep all).")
    var topDB: Float?

    /// The front end of these flags; `bands` when --n-mels is not given.
    func configuration(defaultBands bands: Int = 80) -> FrontEndConfiguration {
        var c = FrontEndConfiguration()
        c.sampleRate = sampleRate
        c.nFFT = nFFT
        c.hopLength = hopLength
        c.winLength = winLength
        c.window = window
        c.center = center
        c.padMode = padMode
        c.nMels = nMels ?? bands
        c.fMin = fMin
        c.fMax = fMax
        c.power = power
        c.melScale = melScale
        c.melNorm = melNorm
        c.scale = scale
        c.reference = reference
        c.amin = amin
        c.topDB = topDB
        return c
    }

    var configuration: FrontEndConfiguration { configuration() }

    func validate() throws {
        guard AudioFile.supportedSampleRates.contains(sampleRate) else {
            let range = AudioFile.supportedSampleRates
            throw ValidationError("--sample-rate \(sampleRate) is not accepted; expected \(range.lowerBound)...\(range.upperBound) Hz")
        }
        // Building the front end checks every other parameter; name the flag, not the field.
        do { _ = try MelFrontEnd(configuration) } catch SpectralError.invalidParameter(let name, let value, let accepted) {
            throw ValidationError("\(Self.flags[name] ?? name) \(value) is not accepted; expected \(accepted)")
        }
    }

    private static let flags = [
        "nFFT": "--n-fft", "hopLength": "--hop-length", "winLength": "--win-length", "nMels": "--n-mels",
        "fMin": "--f-min", "fMax": "--f-max", "power": "--power", "ref": "--ref", "amin": "--amin",
        "topDB": "--top-db", "sampleRate": "--sample-rate",
    ]
}

extension VocoderSelection.PhaseStart: ExpressibleByArgument {}

/// The vocoders `--vocoder` names: griffinlim, pghi, or a learned vocoder's checkpoint.
extension VocoderSelection.Kind: ExpressibleByArgument {
    public init?(argument: String) { self.init(text: argument) }
    public static var allValueStrings: [String] { ["griffinlim", "pghi", "PATH"] }
    public var defaultValueDescription: String { text }
}

/// The vocoder's flags, shared by every command that makes sound.
struct VocoderOptions: ParsableArguments {
    @Option(help: "griffinlim: mel inversion, then Griffin-Lim from --init; pghi: mel inversion, then the phase from Phase Gradient Heap Integration alone (no iterations); or PATH: a learned vocoder, the checkpoint or run folder of 'melforge train vocoder' (one network pass; the features must be made as the ones it trained on).")
    var vocoder = VocoderSelection.Kind.griffinlim

    @Option(name: .customLong("n-iter"), help: "Griffin-Lim iterations (default: 32).")
    var iterations: Int?

    @Option(help: "Griffin-Lim momentum (Perraudin et al. 2013); 0 is plain Griffin-Lim.")
    var momentum: Float = 0.99

    @Option(name: .customLong("init"), help: "Griffin-Lim's starting phase: pghi (Phase Gradient Heap Integration of the magnitude), random (seeded) or zero.")
    var initialPhase = VocoderSelection.PhaseStart.pghi

    @Option(help: "Seed of the random phases (all of them with --init random; PGHI's for coefficients too small to integrate).")
    var seed: UInt64 = 0

    @Flag(help: "Start from zero phase (the same as --init zero).")
    var zeroPhase = false

    @Option(help: "Stop Griffin-Lim early once an iteration improves the spectral convergence by less than this fraction.")
    var stopTolerance: Float?

    @Option(help: "Projected-gradient iterations of the NNLS mel -> linear inversion (0: clipped pseudo-inverse only).")
    var nnlsIterations = 50

    func validate() throws {
        if let iterations, iterations < 0 {
            throw ValidationError("--n-iter \(iterations) is not accepted; expected 0 or more")
        }
        if vocoder == .pghi, let iterations, iterations > 0 {
            throw ValidationError("--vocoder pghi runs no Griffin-Lim iterations (--n-iter \(iterations)); for PGHI and then Griffin-Lim give --vocoder griffinlim --init pghi")
        }
        if case .learned(let path) = vocoder {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("--vocoder '\(path)' is not accepted; expected griffinlim, pghi, or the checkpoint or run folder of 'melforge train vocoder' (no such file or folder)")
            }
        }
        if zeroPhase && initialPhase != .pghi && initialPhase != .zero {
            throw ValidationError("--zero-phase and --init \(initialPhase.rawValue) disagree; give one of them")
        }
        guard momentum >= 0 && momentum.isFinite else {
            throw ValidationError("--momentum \(momentum) is not accepted; expected 0 or more (0.99 is usual)")
        }
        if let stopTolerance, !(stopTolerance > 0 && stopTolerance < 1) {
            throw ValidationError("--stop-tolerance \(stopTolerance) is not accepted; expected a fraction between 0 and 1")
        }
        guard nnlsIterations >= 0 else {
            throw ValidationError("--nnls-iterations \(nnlsIterations) is not accepted; expected 0 or more")
        }
    }

    /// What the flags select (`VocoderSelection` builds the vocoder).
    var selection: VocoderSelection {
        var selection = VocoderSelection()
        selection.kind = vocoder
        (selection.iterations, selection.momentum, selection.seed) = (iterations, momentum, seed)
        selection.initialPhase = zeroPhase ? .zero : initialPhase
        (selection.stopTolerance, selection.nnlsIterations) = (stopTolerance, nnlsIterations)
        return selection
    }

    func vocoder(for configuration: FrontEndConfiguration) throws -> any Vocoder { try selection.vocoder(for: configuration) }
    var learnedBands: Int? { get throws { try selection.learnedBands } }
    func griffinLim(for configuration: FrontEndConfiguration, purpose: String? = nil) throws -> GriffinLimVocoder {
        try selection.griffinLim(for: configuration, purpose: purpose)
    }
}

/// Where a model or a classifier learns from, with the front end that turns clips into images.
struct DataOptions: ParsableArguments {
    @Option(help: "A folder of audio clips, of log-mel .npy files from 'melforge spectrogram' made with the same front-end flags (searched recursively), or the output of 'melforge convert' made with them (.npy files or shards). Labels come from each file's parent folder.")
    var data: String?

    @Option(help: "An MNIST IDX image file (plain or .gz) or a folder of PNG pictures (labelled by their parent folder).")
    var images: String?

    @Option(help: "For an IDX image file, its labels file when labels are needed (default: the images file's name with 'images-idx3' -> 'labels-idx1').")
    var labels: String?

    @Option(help: "Frames per training image (default: the mel bands, as the models take square images); a clip is cut or padded to fit.")
    var frames: Int?

    @OptionGroup(title: "Front end (--data)")
    var frontEnd: FrontEndOptions

    func validate() throws {
        guard (data == nil) != (images == nil) else { throw ValidationError("give exactly one of --data DIR and --images PATH") }
        if let frames, frames < 1 { throw ValidationError("--frames \(frames) is not accepted; expected 1 or more") }
    }

    @OptionGroup(title: "Labels and speakers (--data)")
    var naming: NamingOptions

    @Option(help: ArgumentHelp(Loudness.help)) var loudness = Loudness.asRecorded

    var source: DataSource {
        guard let data else { return .images(path: images!, labels: labels) }
        let configuration = frontEnd.configuration(defaultBands: AudioImaging.defaultFrontEnd.nMels)
        return .audio(folder: data, frontEnd: configuration, frames: frames ?? configuration.nMels, naming: naming.naming,
                      loudness: loudness)
    }
}

extension ClipNaming.Layout: ExpressibleByArgument {}
extension Loudness: ExpressibleByArgument {}

/// How a corpus names its clips' labels and speakers (`ClipNaming`).
struct NamingOptions: ParsableArguments {
    @Option(help: ArgumentHelp(ClipNaming.help.layout)) var layout: ClipNaming.Layout?
    @Option(help: ArgumentHelp(ClipNaming.help.label)) var labelPattern: String?
    @Option(help: ArgumentHelp(ClipNaming.help.speaker)) var speakerPattern: String?

    func validate() throws { _ = try ClipNaming(layout: layout, labelPattern: labelPattern, speakerPattern: speakerPattern) }
    var naming: ClipNaming { (try? ClipNaming(layout: layout, labelPattern: labelPattern, speakerPattern: speakerPattern)) ?? .folders }
}

/// What differs between the commands that share `TrainingOptions`.
protocol TrainingDefaults {
    static var learningRate: Float { get }
    static var batchSize: Int { get }
    static var minimumBatchSize: Int { get }
    static var seedHelp: String { get }
    static var resumeHelp: String { get }
}

extension TrainingDefaults {
    static var batchSize: Int { 64 }
}

/// The training flags of train, train vocoder, classifier train and steer.
struct TrainingOptions<Defaults: TrainingDefaults>: ParsableArguments {
    @Option(help: "Examples per step.")
    var batchSize = Defaults.batchSize

    @Option(help: "Adam's learning rate.")
    var lr: Float = Defaults.learningRate

    @Option(help: ArgumentHelp(Defaults.seedHelp))
    var seed: UInt64 = 0

    @Flag(help: ArgumentHelp(Defaults.resumeHelp))
    var resume = false

    func validate() throws {
        guard batchSize >= Defaults.minimumBatchSize else {
            throw ValidationError("--batch-size \(batchSize) is not accepted; expected \(Defaults.minimumBatchSize) or more")
        }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr \(lr) is not accepted; expected a positive number") }
    }
}

func requireWAVOutput(_ output: String) throws {
    guard output.lowercased().hasSuffix(".wav") else {
        throw ValidationError("--output '\(output)' must end in .wav")
    }
}

func clippingNote(_ report: WriteReport) -> String {
    report.clippedSamples > 0 ? " (\(report.clippedSamples) samples beyond full scale were clipped)" : ""
}

/// A "--widths" value, checked.
func validateWidths(_ widths: String?) throws {
    if let widths, ModelShape.parseWidths(widths) == nil {
        throw ValidationError("--widths '\(widths)' is not accepted; expected positive integers separated by commas")
    }
}

/// `text` as one of `Choice`'s cases; otherwise an error naming `option`, the value and the
/// cases ("--format 'tar' is not accepted; expected npy or shards").
func choice<Choice: CaseIterable & RawRepresentable>(_ text: String, option: String) throws -> Choice where Choice.RawValue == String {
    guard let value = Choice(rawValue: text) else {
        throw ValidationError("\(option) '\(text)' is not accepted; expected \(Choice.allCases.map(\.rawValue).joined(separator: " or "))")
    }
    return value
}

extension Precision: ExpressibleByArgument {}

/// What the convolutions compute with: `--engine` and `--precision`.
struct EngineOptions: ParsableArguments {
    enum Engine: String, CaseIterable, ExpressibleByArgument {
        case onednn, im2col
    }

    @Option(help: "onednn: oneDNN's direct convolutions; im2col: im2col and OpenBLAS sgemm (fp32 only).")
    var engine = Engine.onednn

    @Option(help: "fp32, or bf16: bfloat16 products accumulated in fp32, weights, Adam and losses in fp32 (default: bf16 where the CPU has AVX-512 BF16 or AMX, fp32 elsewhere).")
    var precision: Precision?

    func validate() throws {
        if engine == .im2col, precision == .bf16 {
            throw ValidationError("--precision bf16 needs --engine onednn (im2col runs fp32 only)")
        }
        if precision == .bf16, !OneDNN.hasBFloat16 {
            throw ValidationError("--precision bf16 needs a CPU with AVX-512 BF16 or AMX; this one runs \(OneDNN.instructionSet) (use --precision fp32)")
        }
    }

    /// The precision a run uses.
    var chosenPrecision: Precision { engine == .im2col ? .fp32 : precision ?? (OneDNN.hasBFloat16 ? .bf16 : .fp32) }

    /// Sets the process's convolution engine; returns it.
    @discardableResult
    func apply() -> ConvolutionEngine {
        ConvolutionEngine.current = engine == .im2col ? .im2col : .oneDNN(chosenPrecision)
        return ConvolutionEngine.current
    }
}
