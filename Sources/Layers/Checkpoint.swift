import FileFormats
import Tensors

/// Model state in safetensors files: every parameter and buffer under its PyTorch-style name
/// ("generator.conv1.weight", `[out, in, kh, kw]`), so that Python's
/// `safetensors.numpy.load_file` opens a MelForge checkpoint and finds what a PyTorch user
/// expects; extra tensors (optimizer moments, random state) and string metadata (the model's
/// configuration, the data's normalisation) travel in the same file.
public enum Checkpoint {
    /// The tensors of `module`'s parameters and buffers, named `prefix.name`.
    public static func tensors(of module: Module, prefix: String) -> [NamedTensor] {
        (module.namedParameters + module.namedBuffers).map { entry in
            let name = prefix.isEmpty ? entry.name : prefix + "." + entry.name
            return NamedTensor(name: name, shape: entry.parameter.value.shape, values: entry.parameter.value.values)
        }
    }

    /// Writes the modules, extra tensors and metadata to `path` atomically.
    public static func save(_ modules: [(prefix: String, module: Module)], extra: [NamedTensor] = [],
                            metadata: [String: String] = [:], to path: String) throws {
        let all = modules.flatMap { Self.tensors(of: $0.module, prefix: $0.prefix) } + extra
        try SafeTensors(tensors: all, metadata: metadata).write(to: path)
    }

    /// Copies `file`'s tensors into `module`'s parameters and buffers. Every one must be there
    /// with the module's shape; nothing is changed unless all are (a mismatch leaves the
    /// module as it was). `path` names the file in errors.
    public static func restore(_ module: Module, prefix: String, from file: SafeTensors, path: String) throws {
        let byName = Dictionary(file.tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var updates: [(Parameter, Tensor)] = []
        for entry in module.namedParameters + module.namedBuffers {
            let name = prefix.isEmpty ? entry.name : prefix + "." + entry.name
            guard let tensor = byName[name] else { throw CheckpointError.missingTensor(path: path, name: name) }
            guard tensor.shape == entry.parameter.value.shape else {
                throw CheckpointError.shapeMismatch(path: path, name: name, found: tensor.shape,
                                                    expected: entry.parameter.value.shape)
            }
            if let bad = tensor.values.firstIndex(where: { !$0.isFinite }) {
                throw CheckpointError.nonFinite(path: path, name: name, index: bad)
            }
            updates.append((entry.parameter, Tensor(shape: tensor.shape, values: tensor.values)))
        }
        for (parameter, value) in updates { parameter.value = value }
    }
}

public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case missingTensor(path: String, name: String)
    case shapeMismatch(path: String, name: String, found: [Int], expected: [Int])
    case nonFinite(path: String, name: String, index: Int)
    /// A checkpoint whose description of itself cannot be used.
    case unusable(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingTensor(let path, let name):
            return "'\(path)' has no tensor '\(name)', which the model needs (a checkpoint of another model?)"
        case .shapeMismatch(let path, let name, let found, let expected):
            return "'\(path)': tensor '\(name)' has shape \(found), the model expects \(expected)"
        case .nonFinite(let path, let name, let index):
            return "'\(path)': tensor '\(name)' holds a NaN or infinite value at index \(index)"
        case .unusable(let path, let reason):
            return "'\(path)': \(reason)"
        }
    }
}
