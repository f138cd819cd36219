import FileFormats
import Foundation
import Spectral

/// A feature array on disk (`melforge spectrogram`'s OUT.npy, `[bands, frames]`) with what
/// its JSON beside it says of how it was made: the input of `melforge invert`.
public struct FeatureFile {
    public let path: String
    public let features: Spectrogram
    /// The JSON beside the array, when there is one.
    public let sidecar: FeatureSidecar?
    /// The sidecar's front end, else the fallback the caller gave (the flags).
    public let configuration: FrontEndConfiguration

    public init(_ path: String, fallback: FrontEndConfiguration) throws {
        let array = try NPY.read(path, float32Only: true)
        guard array.shape.count == 2, array.shape.allSatisfy({ $0 > 0 }) else {
            throw NPYError.malformed(path: path, reason: "shape \(array.shape); expected 2-D [bands, frames]")
        }
        let sidecarPath = FeatureSidecar.path(forArray: path)
        self.path = path
        sidecar = FileManager.default.fileExists(atPath: sidecarPath) ? try FeatureSidecar.read(sidecarPath) : nil
        configuration = sidecar?.frontEnd ?? fallback
        features = Spectrogram(bins: array.shape[0], frames: array.shape[1], values: array.values)
    }

    /// The array as a linear magnitude |STFT| of `bins` rows (finite, >= 0).
    public func linearMagnitude(bins: Int) throws -> Spectrogram {
        guard features.bins == bins else {
            throw InputError(file: path, problem: "has \(features.bins) rows; a linear magnitude for n-fft \(configuration.nFFT) has \(bins)")
        }
        if let bad = features.values.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
            throw InputError(file: path, problem: "holds \(features.values[bad]) at bin \(bad / features.frames), frame \(bad % features.frames); a magnitude is finite and >= 0")
        }
        return features
    }

    /// The array as features through `vocoder`, undoing its normalisation, at the length of
    /// the clip it was made from when the JSON says.
    public func vocoded(by vocoder: any Vocoder) throws -> VocodedClip {
        guard features.bins == configuration.nMels else {
            let origin = sidecar == nil ? "--n-mels is \(configuration.nMels)"
                : "\(FeatureSidecar.path(forArray: path)) says n-mels \(configuration.nMels)"
            throw InputError(file: path, problem: "has \(features.bins) mel bands, but \(origin)")
        }
        do {
            return try vocoder.synthesize(features, normalization: sidecar?.normalization, length: sidecar?.samples)
        } catch let error as SpectralError {
            throw InputError(file: path, problem: error.description)
        }
    }
}
