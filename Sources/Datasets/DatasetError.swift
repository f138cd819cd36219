/// Why a data set could not be loaded; every case names the file or folder.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case mismatch(path: String, reason: String)
    case empty(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "cannot read the data in '\(path)': \(reason)"
        case .mismatch(let path, let reason): return "'\(path)' does not fit the data set: \(reason)"
        case .empty(let path, let reason): return "'\(path)' holds no usable data: \(reason)"
        }
    }
}
