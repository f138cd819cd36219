/// A spectral parameter or input outside what the algorithm accepts.
public enum SpectralError: Error, CustomStringConvertible, Equatable {
    /// `name` (librosa's spelling) has `value`; `accepted` says what would do.
    case invalidParameter(name: String, value: String, accepted: String)

    public var description: String {
        switch self {
        case .invalidParameter(let name, let value, let accepted):
            return "\(name) = \(value) is not accepted; expected \(accepted)"
        }
    }
}
