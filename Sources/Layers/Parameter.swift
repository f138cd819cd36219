import Synchronization
import Tensors

/// A trainable tensor and the gradient accumulated for it.
///
/// Parameters are shared by reference: a layer owns its parameters, and the optimizer and
/// the checkpoint writer see the very same objects through `Module.parameters`. Gradients
/// are added to (`+=`) by every backward pass and zeroed as a step of its own
/// (`zeroGradients`), so a discriminator can run backward on a real and a fake batch
/// before one update.
public final class Parameter: @unchecked Sendable {
    /// The name within its layer, e.g. "weight" or "bias".
    public let name: String
    public var value: Tensor { didSet { version = Parameter.nextVersion() } }
    public var gradient: Tensor
    /// A number no other value of any parameter has had: it changes with every write to
    /// `value` (an optimizer's update, a checkpoint, spectral normalisation), so a layer can
    /// keep a converted copy of the value (oneDNN's layout, bfloat16) while it is the same.
    public private(set) var version: UInt64

    public init(_ name: String, _ value: Tensor) {
        self.name = name
        self.value = value
        self.gradient = Tensor.zeros(like: value)
        version = Parameter.nextVersion()
    }

    private static let versions = Atomic<UInt64>(0)
    private static func nextVersion() -> UInt64 { versions.wrappingAdd(1, ordering: .relaxed).newValue }
}

/// Anything with parameters: a layer or a model made of layers.
public protocol Module {
    /// Every parameter with its full name (PyTorch's `state_dict` keys, e.g.
    /// "conv1.weight"), in a fixed order.
    var namedParameters: [(name: String, parameter: Parameter)] { get }
    /// Tensors that are state but not trained (BatchNorm's running statistics), by name.
    var namedBuffers: [(name: String, parameter: Parameter)] { get }
}

extension Module {
    public var namedBuffers: [(name: String, parameter: Parameter)] { [] }

    public var parameters: [Parameter] { namedParameters.map(\.parameter) }

    public func zeroGradients() {
        for parameter in parameters { parameter.gradient.zero() }
    }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}

/// `prefix.name` for each of a child module's parameters: how models name their layers'.
public func prefixed(_ prefix: String, _ named: [(name: String, parameter: Parameter)]) -> [(name: String, parameter: Parameter)] {
    named.map { (prefix + "." + $0.name, $0.parameter) }
}
