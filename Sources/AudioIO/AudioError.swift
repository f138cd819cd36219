/// Why audio could not be read, resampled or written. Every case names the file
/// (or the option) and the bad value; the library never traps on user input.
public enum AudioError: Error, CustomStringConvertible, Equatable {
    /// libsndfile could not open or decode the file; `reason` is its own message.
    case unreadable(path: String, reason: String)
    /// The file decodes but holds no audio frames.
    case empty(path: String)
    /// NaN or infinite samples with `NonFiniteSamples.reject`.
    case nonFinite(path: String, count: Int, firstFrame: Int)
    /// The file's header claims a rate outside `AudioFile.supportedSampleRates`.
    case unsupportedSampleRate(path: String, sampleRate: Int)
    /// The file's header claims a channel count outside `AudioFile.supportedChannelCounts`.
    case unsupportedChannelCount(path: String, channels: Int)
    /// A caller's argument is out of range: `name` is the parameter or option.
    case invalidArgument(name: String, value: String, accepted: String)
    /// libsoxr refused the conversion.
    case resampleFailed(from: Int, to: Int, reason: String)
    /// Writing `path` failed; nothing was left under that name.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read audio from '\(path)': \(reason)"
        case .empty(let path):
            return "'\(path)' holds no audio frames"
        case .nonFinite(let path, let count, let firstFrame):
            return "'\(path)' has \(count) NaN or infinite samples (first at frame \(firstFrame)); "
                + "rejected (pass non-finite policy 'zero' to replace them with silence)"
        case .unsupportedSampleRate(let path, let sampleRate):
            let range = AudioFile.supportedSampleRates
            return "'\(path)' claims a sample rate of \(sampleRate) Hz; accepted: "
                + "\(range.lowerBound)...\(range.upperBound) Hz"
        case .unsupportedChannelCount(let path, let channels):
            let range = AudioFile.supportedChannelCounts
            return "'\(path)' claims \(channels) channels; accepted: \(range.lowerBound)...\(range.upperBound)"
        case .invalidArgument(let name, let value, let accepted):
            return "\(name) = \(value) is not accepted; expected \(accepted)"
        case .resampleFailed(let from, let to, let reason):
            return "resampling \(from) Hz -> \(to) Hz failed: \(reason)"
        case .writeFailed(let path, let reason):
            return "cannot write audio to '\(path)': \(reason)"
        }
    }
}
