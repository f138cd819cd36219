import CDNNLBridge
import Foundation
import Synchronization
import Tensors
import WorkerPool

/// The arithmetic of a convolution: float32, or bfloat16 products accumulated in float32
/// (inputs rounded to bfloat16; weights, gradients and everything else stay float32).
public enum Precision: String, CaseIterable, Codable, Sendable {
    case fp32, bf16
}

/// What the convolution layers (`Conv2D`, `ConvTranspose2D`) compute with: im2col and
/// OpenBLAS's sgemm (float32), or oneDNN's direct convolutions in a `Precision`. A shape
/// oneDNN has no primitive for falls back to im2col.
public enum ConvolutionEngine: Equatable, Sendable, CustomStringConvertible {
    case im2col
    case oneDNN(Precision)

    /// The one engine of the process; set before training.
    nonisolated(unsafe) public static var current = ConvolutionEngine.im2col

    public var description: String {
        switch self {
        case .im2col: "im2col + OpenBLAS sgemm (fp32)"
        case .oneDNN(let precision): "oneDNN (\(precision.rawValue))"
        }
    }
}

/// A convolution's three passes: the forward, the input's gradient (backward data) and the
/// weights' and bias's (backward weights).
public enum ConvolutionPass: Int, CaseIterable, Sendable, CustomStringConvertible {
    case forward, backwardData, backwardWeights

    public var description: String { ["forward", "backward data", "backward weights"][rawValue] }
    var bridge: Int32 { Int32(rawValue) }
}

/// Which implementation ran each pass of each convolution, in the order they first ran (what
/// `melforge bench --explain` prints, and what the tests assert): a oneDNN kernel by the name
/// oneDNN gives it ("oneDNN jit:avx2"), or "im2col", with the oneDNN implementation that was
/// declined for it, if any ("ref:any": oneDNN's reference loops are never run). Recorded only
/// between `startRecording` and `stopRecording`.
public enum ConvolutionRoads {
    public struct Road: Sendable, Equatable, CustomStringConvertible {
        /// "Conv2D 1->32 5x5/2 on 64x1x64x64" (a stack's layers: "stack 2/4: ...").
        public let layer: String
        public let pass: ConvolutionPass
        /// "oneDNN jit:avx2", "oneDNN matmul gemm:jit", "im2col".
        public let implementation: String
        /// The oneDNN implementation not run for this pass (a reference one), if any.
        public let declined: String?

        public var runsReference: Bool { implementation.hasPrefix("oneDNN ref") }
        public var description: String {
            "\(layer)  \(pass): \(implementation)" + (declined.map { " (oneDNN offers \($0) only)" } ?? "")
        }
    }

    private static let state = Mutex<(roads: [Road], seen: Set<String>)>(([], []))
    /// Whether roads are recorded: read without the lock on every layer call.
    private static let recording = Atomic(false)

    /// Forgets what was recorded and records from now on.
    public static func startRecording() {
        state.withLock { $0 = ([], []) }
        recording.store(true, ordering: .releasing)
    }

    /// Stops recording; returns each layer's passes in the order they first ran.
    public static func stopRecording() -> [Road] {
        recording.store(false, ordering: .releasing)
        return state.withLock { $0.roads }
    }

    static func record(_ layer: @autoclosure () -> String, _ pass: ConvolutionPass, _ implementation: @autoclosure () -> String,
                       declined: @autoclosure () -> String? = nil) {
        guard recording.load(ordering: .acquiring) else { return }
        state.withLock { state in
            let layer = layer()
            guard state.seen.insert("\(layer)|\(pass.rawValue)").inserted else { return }
            state.roads.append(Road(layer: layer, pass: pass, implementation: implementation(), declined: declined()))
        }
    }
}

/// oneDNN as the process sees it.
public enum OneDNN {
    /// "2.6.3".
    public static var version: String { bridgeText { mf_dnnl_version($0, $1) } }

    /// The instruction set oneDNN dispatches to (`dnnl_cpu_isa_t`), by name.
    public static var instructionSet: String {
        switch mf_dnnl_cpu_isa() {
        case 0x1: "sse41"
        case 0x3: "avx"
        case 0x7: "avx2"
        case 0x27: "avx512_core"
        case 0x67: "avx512_core_vnni"
        case 0xE7: "avx512_core_bf16"
        case 0x3E7: "avx512_core_amx"
        case let other: "isa 0x" + String(other, radix: 16)
        }
    }

    /// Whether this CPU runs bfloat16 products natively (AVX-512 BF16 or AMX).
    public static var hasBFloat16: Bool { [0xE7, 0x3E7].contains(mf_dnnl_cpu_isa()) }

    /// A layer's primitives by shape and precision, made once (nil: oneDNN has none).
    static func layer(_ key: OneDNNLayerKey) -> OneDNNLayer? {
        primitives.withLock { cache in
            if let made = cache[key] { return made }  // made before (nil: oneDNN has none)
            setThreadsOnce()
            let made = OneDNNLayer(key)
            cache[key] = made
            return made
        }
    }

    /// A stack's primitives by its layers, made once (nil: oneDNN has none, or lays out one
    /// layer's output otherwise than the next one's input).
    static func stack(_ layers: [OneDNNLayerKey]) -> OneDNNStack? {
        stacks.withLock { cache in
            if let made = cache[layers] { return made }
            setThreadsOnce()
            let made = OneDNNStack(layers)
            cache[layers] = made
            return made
        }
    }

    /// oneDNN computes with the workers' count of OpenMP threads, set before its first primitive.
    private static func setThreadsOnce() {
        threadsSet.withLock { set in
            if !set { mf_dnnl_set_threads(Int32(Workers.count)) }
            set = true
        }
    }

    /// For the tests, on any CPU, what another CPU's oneDNN does: passes treated as if oneDNN
    /// had only reference implementations for them (single layers run them on im2col), and
    /// layers treated as if oneDNN could not stack them (they run alone).
    static let testing = Mutex<(declined: Set<ConvolutionPass>, alone: Set<Int>)>(([], []))

    static func setTesting(declined: Set<ConvolutionPass> = [], alone: Set<Int> = []) {
        testing.withLock { $0 = (declined, alone) }
        clearPlans()
    }

    private static let threadsSet = Mutex(false)
    /// nil for a key: oneDNN has no primitive for it (asked once).
    private static let primitives = Mutex<[OneDNNLayerKey: OneDNNLayer?]>([:])
    private static let stacks = Mutex<[[OneDNNLayerKey]: OneDNNStack?]>([:])
}

/// A convolution from `[batch, channels, height, width]` with `outputs` output channels, or
/// the transposed convolution that runs it backwards (from its output to its input); with or
/// without a bias, with the activation its forward applies.
struct OneDNNLayerKey: Hashable {
    let batch: Int
    let geometry: ConvGeometry
    let outputs: Int
    let transposed: Bool
    let bias: Bool
    let activation: FusedActivation?
    let precision: Precision
}

extension OneDNNLayerKey {
    /// The layer as the bridge describes it.
    var shape: mf_dnnl_layer_shape {
        let g = geometry
        // oneDNN wants the padding after the image that makes the sizes add up exactly.
        let bottom = (g.outHeight - 1) * g.stride + g.kernel - g.height - g.padding
        let right = (g.outWidth - 1) * g.stride + g.kernel - g.width - g.padding
        // A transposed layer's input is the convolution's output grid, and its output the image.
        let (input, output) = transposed
            ? ((outputs, g.outHeight, g.outWidth), (g.channels, g.height, g.width))
            : ((g.channels, g.height, g.width), (outputs, g.outHeight, g.outWidth))
        let (kind, alpha): (Int32, Float) = switch activation {
        case nil: (Int32(MF_DNNL_IDENTITY), 0)
        case .tanh: (Int32(MF_DNNL_TANH), 0)
        case let rectifier?: (Int32(MF_DNNL_RELU), rectifier.rectifierSlope!)
        }
        return mf_dnnl_layer_shape(
            transposed: transposed ? 1 : 0, batch: Int32(batch), channels: Int32(input.0), height: Int32(input.1),
            width: Int32(input.2), outputs: Int32(output.0), out_height: Int32(output.1), out_width: Int32(output.2),
            kernel: Int32(g.kernel), stride: Int32(g.stride), pad_top: Int32(g.padding), pad_left: Int32(g.padding),
            pad_bottom: Int32(bottom), pad_right: Int32(right), bias: bias ? 1 : 0, activation: kind, alpha: alpha,
            bfloat16: precision == .bf16 ? 1 : 0)
    }
}

/// oneDNN's forward, backward-data and backward-weights primitives of one layer. Their reorder
/// buffers are shared, so calls take turns (a lock; layers call one at a time anyway).
final class OneDNNLayer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let lock = NSLock()
    let key: OneDNNLayerKey

    init?(_ key: OneDNNLayerKey) {
        var shape = key.shape
        var error = [CChar](repeating: 0, count: 256)
        guard let handle = mf_dnnl_layer_create(&shape, &error, Int32(error.count)) else { return nil }
        self.handle = handle
        self.key = key
    }

    deinit { mf_dnnl_layer_destroy(handle) }

    /// Whether its direct convolution (a convolution's forward, a transposed one's backward
    /// data) runs on channels-last copies of its tensors.
    var channelsLast: Bool { mf_dnnl_layer_channels_last(handle) != 0 }

    /// Whether its weight gradient is one matrix product (oneDNN's matmul on im2col columns).
    var weightsByProduct: Bool { mf_dnnl_layer_weights_by_product(handle) != 0 }

    /// Whether oneDNN runs `pass` (not where its only implementation is a reference one; the
    /// layer then computes that pass on im2col).
    func runs(_ pass: ConvolutionPass) -> Bool {
        mf_dnnl_layer_runs(handle, pass.bridge) != 0 && !OneDNN.testing.withLock { $0.declined.contains(pass) }
    }

    /// The implementation oneDNN runs `pass` with, or would have ("jit:avx2", "ref:any").
    func implementation(_ pass: ConvolutionPass) -> String {
        bridgeText { mf_dnnl_layer_implementation(handle, pass.bridge, $0, $1) }
    }

    /// Elements of the convolution's image `[N, C, H, W]`, of its output grid `[N, O, P, Q]`,
    /// and of the weights.
    private var imageCount: Int { key.batch * key.geometry.channels * key.geometry.height * key.geometry.width }
    private var gridCount: Int { key.batch * key.outputs * key.geometry.outHeight * key.geometry.outWidth }
    private var weightCount: Int { key.outputs * key.geometry.patchSize }
    var inputCount: Int { key.transposed ? gridCount : imageCount }
    var outputCount: Int { key.transposed ? imageCount : gridCount }
    /// The layer's output channels.
    private var biasCount: Int { key.transposed ? key.geometry.channels : key.outputs }

    /// The layer's output: activation(layer(x, weights) + bias). The weights' conversion is
    /// kept for their next use while they are unchanged (`Parameter.version`).
    func forward(_ x: [Float], weights: Parameter, bias: [Float]?) -> [Float] {
        precondition(x.count == inputCount && weights.value.count == weightCount && (bias != nil) == key.bias)
        precondition(bias == nil || bias!.count == biasCount)
        var y = uninitializedFloats(outputCount)
        let status = lock.withLock { mf_dnnl_layer_forward(handle, x, weights.value.values, weights.version, bias, &y) }
        precondition(status == 0, "oneDNN: a forward pass failed")
        return y
    }

    /// From dy, dL by the output before the activation: dx (when `inputGradient`), and, when
    /// `parameterGradients`, the weights' and bias's gradients added to theirs (oneDNN sums
    /// them in as it converts them from its layout). `bias`: the layer's, when oneDNN makes its
    /// gradient (`key.bias`).
    func backward(_ x: [Float], dy: [Float], weights: Parameter, bias: Parameter?, inputGradient: Bool,
                  parameterGradients: Bool) -> [Float]? {
        precondition(x.count == inputCount && dy.count == outputCount && weights.value.count == weightCount)
        precondition((bias != nil) == key.bias && (bias == nil || bias!.value.count == biasCount))
        var dx = inputGradient ? uninitializedFloats(inputCount) : nil
        let status = lock.withLock {
            withOptionalPointer(&dx) { dxPointer in
                withGradients(parameterGradients ? [weights, bias] : [nil, nil]) { gradients in
                    mf_dnnl_layer_backward(handle, x, dy, weights.value.values, weights.version, dxPointer, gradients[0],
                                           gradients[1])
                }
            }
        }
        precondition(status == 0, "oneDNN: a backward pass failed")
        return dx
    }
}

/// The text a bridge function writes into a buffer it is given (with its capacity).
func bridgeText(_ write: (UnsafeMutablePointer<CChar>, Int32) -> Void) -> String {
    var text = [CChar](repeating: 0, count: 96)
    text.withUnsafeMutableBufferPointer { write($0.baseAddress!, Int32($0.count)) }
    return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Records the road `pass` of `layer` takes: oneDNN's kernel when `primitives` run it (and
/// `oneDNNAllowed`: a shape rule may prefer im2col), else im2col, naming the reference
/// implementation oneDNN offered when that was why.
func recordRoad(_ primitives: OneDNNLayer?, _ layer: @autoclosure () -> String, _ pass: ConvolutionPass,
                oneDNNAllowed: Bool = true) {
    guard let primitives else { return ConvolutionRoads.record(layer(), pass, "im2col") }
    if !primitives.runs(pass) {
        ConvolutionRoads.record(layer(), pass, "im2col", declined: primitives.implementation(pass))
    } else if oneDNNAllowed {
        ConvolutionRoads.record(layer(), pass, "oneDNN " + primitives.implementation(pass))
    } else {
        ConvolutionRoads.record(layer(), pass, "im2col")
    }
}

/// `body` with a pointer to each parameter's gradient storage (NULL for a nil parameter).
func withGradients<R>(_ parameters: [Parameter?], _ body: ([UnsafeMutablePointer<Float>?]) -> R) -> R {
    func nest(_ rest: ArraySlice<Parameter?>, _ pointers: [UnsafeMutablePointer<Float>?]) -> R {
        guard let first = rest.first else { return body(pointers) }
        guard let parameter = first else { return nest(rest.dropFirst(), pointers + [nil]) }
        return parameter.gradient.values.withUnsafeMutableBufferPointer { nest(rest.dropFirst(), pointers + [$0.baseAddress]) }
    }
    return nest(parameters[...], [])
}

/// `body` with the array's storage, or NULL for no array.
func withOptionalPointer<R>(_ array: inout [Float]?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard array != nil else { return body(nil) }
    return array!.withUnsafeMutableBufferPointer { body($0.baseAddress) }
}
