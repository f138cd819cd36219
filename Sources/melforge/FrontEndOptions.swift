import ArgumentParser
import AudioIO
import Spectral

extension Window: ExpressibleByArgument {}
extension PadMode: ExpressibleByArgument {}
extension MelScale: ExpressibleByArgument {}
extension MelNorm: ExpressibleByArgument {}
extension FrontEndConfiguration.OutputScale: ExpressibleByArgument {}

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

    @Option(help: "Number of mel bands.")
    var nMels = 80

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

    var configuration: FrontEndConfiguration {
        var c = FrontEndConfiguration()
        c.sampleRate = sampleRate
        c.nFFT = nFFT
        c.hopLength = hopLength
        c.winLength = winLength
        c.window = window
        c.center = center
        c.padMode = padMode
        c.nMels = nMels
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
