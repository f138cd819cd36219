import FileFormats
import Layers
import Optimizers
import Tensors

/// What a resumable run keeps beside its weights, the same for training runs, classifier
/// training and steering: Adam's moments as tensors named `PREFIX.NAME.exp_avg`..., a counter
/// (step or epoch) and the random generator's state in the file's metadata.
public enum RunState {
    /// Adam's state for `module`'s parameters, each tensor named `prefix.NAME`.
    public static func optimizerTensors(_ adam: Adam, of module: Module, prefix: String) -> [NamedTensor] {
        adam.state(names: module.namedParameters.map(\.name)).map {
            NamedTensor(name: prefix + "." + $0.name, shape: $0.shape, values: $0.values)
        }
    }

    /// Restores what `optimizerTensors` wrote into `file`; `path` names the file in errors.
    public static func restoreOptimizer(_ adam: Adam, of module: Module, prefix: String, from file: SafeTensors,
                                 path: String) throws {
        var own: [String: NamedTensor] = [:]
        for tensor in file.tensors where tensor.name.hasPrefix(prefix + ".") {
            let name = String(tensor.name.dropFirst(prefix.count + 1))
            if own[name] == nil { own[name] = tensor }  // the first of duplicate names, as the weights
        }
        do {
            try adam.restore(own, names: module.namedParameters.map(\.name))
        } catch {
            throw CheckpointError.missingTensor(path: path, name: "\(prefix): \(error)")
        }
    }

    /// Metadata entries for the counter `key` and the random state.
    public static func metadata(_ key: String, _ counter: Int, random: RandomNumbers) -> [String: String] {
        [key: String(counter), "random_state": random.state.map { String($0) }.joined(separator: ",")]
    }

    /// The counter `key` (0 or more) and the random generator saved by `metadata`.
    public static func counter(_ key: String, from file: SafeTensors, path: String) throws -> (Int, RandomNumbers) {
        guard let text = file.metadata[key], let counter = Int(text), counter >= 0,
              let state = file.metadata["random_state"].map({ $0.split(separator: ",").compactMap { UInt64($0) } }),
              let random = RandomNumbers(state: state)
        else { throw CheckpointError.missingTensor(path: path, name: "__metadata__ \(key)/random_state") }
        return (counter, random)
    }
}
