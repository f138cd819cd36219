import CDNNLBridge
import Foundation
import Synchronization
import Tensors

/// Convolutions applied one after the other, each followed by the same rectifier (ReLU or
/// LeakyReLU, fused into it): a discriminator's, a classifier's or an encoder's body. On
/// oneDNN the stack runs as one (`OneDNNStack`): the activations between the layers, and their
/// gradients, stay in oneDNN's layout and precision. Where oneDNN cannot run a layer's every
/// pass with a kernel of its own (a reference implementation is never run: on AVX2 a 1-channel
/// first layer's backward passes), that layer runs alone, each pass on oneDNN or im2col, and
/// the rest as stacks (`StackPlan`). On im2col, layer by layer.
public struct ConvolutionStack {
    public let convolutions: [Conv2D]
    public let activation: FusedActivation

    public init(_ convolutions: [Conv2D], activation: FusedActivation) {
        precondition(activation.rectifierSlope != nil, "ConvolutionStack: the activation is a rectifier (ReLU, LeakyReLU)")
        self.convolutions = convolutions
        self.activation = activation
    }

    public struct Cache: @unchecked Sendable {
        let inputShape: [Int]
        var parts: [StackPlan.PartCache<Conv2D.Cache>] = []
    }

    /// How the stack runs on an input of `shape`: nil on im2col.
    func plan(_ shape: [Int]) -> StackPlan? { OneDNN.plan(convolutions, inputShape: shape, activation: activation) }

    /// oneDNN's stack of every layer for an input of `shape`, when they run as one.
    func oneDNN(_ shape: [Int]) -> OneDNNStack? { plan(shape)?.whole }

    public func forward(_ x: Tensor) -> (output: Tensor, cache: Cache) {
        let (output, parts) = StackPlan.forward(x, layers: convolutions, plan: plan(x.shape)) { conv, h in
            conv.forward(h, activation: activation)
        }
        return (output, Cache(inputShape: x.shape, parts: parts))
    }

    /// From dL/d(output): accumulates the weights' gradients (unless `parameterGradients` is
    /// false) and returns dL/d(input) (nil without `inputGradient`: the first layer's backward
    /// data is then skipped).
    public func backward(_ dOutput: Tensor, cache: Cache, parameterGradients: Bool = true, inputGradient: Bool = true)
        -> Tensor? {
        StackPlan.backward(dOutput, layers: convolutions, parts: cache.parts, inputGradient: inputGradient,
                           parameterGradients: parameterGradients) { conv, d, layerCache, wantInput in
            conv.backward(d, cache: layerCache, parameterGradients: parameterGradients, inputGradient: wantInput)
        }
    }
}

/// Transposed convolutions applied one after the other, each followed by the same rectifier:
/// a decoder's body (the VAE's). On oneDNN the stack runs as one (`OneDNNStack`): the
/// activations between the layers and their gradients stay in oneDNN's layout and precision,
/// the bias and the rectifier applied on that layout; split as `ConvolutionStack` is where
/// oneDNN cannot run a layer's every pass. On im2col, layer by layer.
public struct TransposedConvolutionStack {
    public let layers: [ConvTranspose2D]
    public let activation: FusedActivation

    public init(_ layers: [ConvTranspose2D], activation: FusedActivation) {
        precondition(activation.rectifierSlope != nil, "TransposedConvolutionStack: the activation is a rectifier")
        self.layers = layers
        self.activation = activation
    }

    public struct Cache: @unchecked Sendable {
        var parts: [StackPlan.PartCache<ConvTranspose2D.Cache>] = []
    }

    /// How the stack runs on an input of `shape`: nil on im2col.
    func plan(_ shape: [Int]) -> StackPlan? { OneDNN.plan(layers, inputShape: shape, activation: activation) }

    /// oneDNN's stack of every layer for an input of `shape`, when they run as one.
    func oneDNN(_ shape: [Int]) -> OneDNNStack? { plan(shape)?.whole }

    public func forward(_ x: Tensor) -> (output: Tensor, cache: Cache) {
        let (output, parts) = StackPlan.forward(x, layers: layers, plan: plan(x.shape)) { layer, h in
            layer.forward(h, activation: activation)
        }
        return (output, Cache(parts: parts))
    }

    /// From dL/d(output): accumulates the weights' and biases' gradients, returns dL/d(input).
    public func backward(_ dOutput: Tensor, cache: Cache) -> Tensor {
        StackPlan.backward(dOutput, layers: layers, parts: cache.parts, inputGradient: true, parameterGradients: true) {
            layer, d, layerCache, _ in layer.backward(d, cache: layerCache)
        }!
    }
}

/// How a stack of layers runs on oneDNN for one input shape: as parts, each a oneDNN stack of
/// consecutive layers or a single layer on its own (whose passes each run on oneDNN or im2col).
/// One stack of all the layers where oneDNN makes one; otherwise, from the first layer on, the
/// longest run of two or more layers oneDNN makes a stack of (none of their passes a reference
/// implementation), else the layer alone. Made once per shape from what oneDNN reports: no
/// timing, the same choice on every run of a machine.
struct StackPlan: @unchecked Sendable {
    enum Part {
        case stack(OneDNNStack, Range<Int>)
        case layer(Int)
    }

    let parts: [Part]

    /// The one stack of every layer, when the plan is that.
    var whole: OneDNNStack? {
        if parts.count == 1, case .stack(let stack, _) = parts[0] { return stack }
        return nil
    }

    /// What a forward keeps for the backward, part by part.
    enum PartCache<LayerCache> {
        case stack(OneDNNStack, Range<Int>, OneDNNStack.Pass)
        case layer(Int, LayerCache)
    }

    /// Runs `layers` forward on `plan` (nil: one by one with `layerForward`).
    static func forward<Layer: StackableLayer, LayerCache>(
        _ x: Tensor, layers: [Layer], plan: StackPlan?, layerForward: (Layer, Tensor) -> (output: Tensor, cache: LayerCache)
    ) -> (Tensor, [PartCache<LayerCache>]) {
        let parts = plan?.parts ?? layers.indices.map { Part.layer($0) }
        var (h, caches) = (x, [PartCache<LayerCache>]())
        for part in parts {
            switch part {
            case .stack(let stack, let range):
                stack.record(inputShape: h.shape, layers: Array(layers[range]), passes: [.forward])
                let (output, pass) = stack.forward(h, layers: Array(layers[range]))
                (h, caches) = (output, caches + [.stack(stack, range, pass)])
            case .layer(let index):
                let (output, cache) = layerForward(layers[index], h)
                (h, caches) = (output, caches + [.layer(index, cache)])
            }
        }
        return (h, caches)
    }

    /// Runs `layers` backward through the parts a forward kept; `layerBackward(layer, dy,
    /// cache, inputGradient)` for a single layer.
    static func backward<Layer: StackableLayer, LayerCache>(
        _ dOutput: Tensor, layers: [Layer], parts: [PartCache<LayerCache>], inputGradient: Bool, parameterGradients: Bool,
        layerBackward: (Layer, Tensor, LayerCache, Bool) -> Tensor?
    ) -> Tensor? {
        var d = dOutput
        for (position, part) in parts.enumerated().reversed() {
            let wantInput = inputGradient || position > 0
            switch part {
            case .stack(let stack, let range, let pass):
                // Every layer's backward data but the first's makes a gradient between its layers.
                stack.record(inputShape: stack.inputShape, layers: Array(layers[range]),
                             passes: [.backwardData] + (parameterGradients ? [.backwardWeights] : []),
                             firstLayerData: wantInput)
                guard let next = stack.backward(pass, dy: d, layers: Array(layers[range]), inputGradient: wantInput,
                                                parameterGradients: parameterGradients)
                else { return nil }
                d = next
            case .layer(let index, let cache):
                guard let next = layerBackward(layers[index], d, cache, wantInput) else { return nil }
                d = next
            }
        }
        return d
    }
}

/// A layer a oneDNN stack can hold, with its bias and rectifier.
protocol StackableLayer: WeightAndBias {
    /// "Conv2D 1->32 5x5/2 on 64x1x64x64" (`ConvolutionRoads`).
    func label(_ shape: [Int]) -> String
    /// oneDNN's key for this layer on an input of `shape`, with `activation`, and its output's shape.
    func stackKey(_ shape: [Int], activation: FusedActivation, precision: Precision) -> (key: OneDNNLayerKey, output: [Int])
}

extension Conv2D: StackableLayer {
    func stackKey(_ shape: [Int], activation: FusedActivation, precision: Precision) -> (key: OneDNNLayerKey, output: [Int]) {
        let g = geometry(shape)
        return (oneDNNKey(shape, activation: activation, precision: precision),
                [shape[0], outputChannels, g.outHeight, g.outWidth])
    }
}

extension ConvTranspose2D: StackableLayer {
    func stackKey(_ shape: [Int], activation: FusedActivation, precision: Precision) -> (key: OneDNNLayerKey, output: [Int]) {
        // The convolution the layer runs backwards: from its output grid to its input, with the
        // bias and the rectifier (the stack applies them on oneDNN's layout).
        let g = geometry(shape)
        return (OneDNNLayerKey(batch: shape[0], geometry: g, outputs: inputChannels, transposed: true, bias: bias != nil,
                               activation: activation, precision: precision),
                [shape[0], outputChannels, g.height, g.width])
    }
}

extension OneDNN {
    /// How `layers` run on oneDNN for an input of `shape` (nil when the engine is not oneDNN).
    static func plan(_ layers: [any StackableLayer], inputShape shape: [Int], activation: FusedActivation) -> StackPlan? {
        guard case .oneDNN(let precision) = ConvolutionEngine.current else { return nil }
        var (keys, shape) = ([OneDNNLayerKey](), shape)
        for layer in layers {
            let (key, output) = layer.stackKey(shape, activation: activation, precision: precision)
            (keys, shape) = (keys + [key], output)
        }
        let alone = testing.withLock { $0.alone }
        return plans.withLock { cache in
            if let made = cache[keys] { return made }
            var (parts, start) = ([StackPlan.Part](), 0)
            while start < keys.count {
                // The longest run from `start` that oneDNN makes one stack of, else the layer alone.
                let run = stride(from: keys.count, to: start + 1, by: -1).lazy
                    .filter { end in (start..<end).allSatisfy { !alone.contains($0) } }
                    .compactMap { end in stack(Array(keys[start..<end])).map { (end, $0) } }.first
                if let (end, stack) = run {
                    parts.append(.stack(stack, start..<end))
                    start = end
                } else {
                    parts.append(.layer(start))
                    start += 1
                }
            }
            let made = StackPlan(parts: parts)
            cache[keys] = made
            return made
        }
    }

    private static let plans = Mutex<[[OneDNNLayerKey]: StackPlan]>([:])

    static func clearPlans() { plans.withLock { $0 = [:] } }
}

/// oneDNN's primitives of a `ConvolutionStack` or a `TransposedConvolutionStack` for one input
/// shape (`mf_dnnl_stack`). Calls take turns (a lock: the gradients between the layers live in
/// shared buffers).
final class OneDNNStack: @unchecked Sendable {
    private let handle: OpaquePointer
    private let lock = NSLock()
    let layers: [OneDNNLayerKey]

    /// What one forward keeps for its backward (oneDNN's copies of the input and of each
    /// layer's output), freed with it.
    final class Pass: @unchecked Sendable {
        fileprivate let handle: OpaquePointer
        fileprivate init(_ handle: OpaquePointer) { self.handle = handle }
        deinit { mf_dnnl_stack_pass_destroy(handle) }
    }

    init?(_ layers: [OneDNNLayerKey]) {
        var shapes = layers.map(\.shape)
        var error = [CChar](repeating: 0, count: 256)
        guard let handle = mf_dnnl_stack_create(Int32(shapes.count), &shapes, &error, Int32(error.count)) else { return nil }
        self.handle = handle
        self.layers = layers
    }

    deinit { mf_dnnl_stack_destroy(handle) }

    /// Which layers' direct convolutions run on channels-last copies of the activations.
    var channelsLast: [Bool] { layers.indices.map { mf_dnnl_stack_channels_last(handle, Int32($0)) != 0 } }

    /// Which layers' weight gradients are one matrix product (oneDNN's matmul on im2col columns).
    var weightsByProduct: [Bool] { layers.indices.map { mf_dnnl_stack_weights_by_product(handle, Int32($0)) != 0 } }

    /// The implementation layer `index` runs `pass` with ("jit:avx2", "brgconv:avx512_core").
    func implementation(_ index: Int, _ pass: ConvolutionPass) -> String {
        bridgeText { mf_dnnl_stack_implementation(handle, Int32(index), pass.bridge, $0, $1) }
    }

    /// Records `passes` of every layer (`ConvolutionRoads`), for an input of `shape`; the first
    /// layer's backward data only with `firstLayerData`.
    func record(inputShape shape: [Int], layers: [any StackableLayer], passes: [ConvolutionPass], firstLayerData: Bool = true) {
        var shape = shape
        for (index, layer) in layers.enumerated() {
            for pass in passes where index > 0 || firstLayerData || pass != .backwardData {
                ConvolutionRoads.record("stack \(index + 1)/\(layers.count): " + layer.label(shape), pass,
                                        "oneDNN " + implementation(index, pass))
            }
            shape = [self.layers[index].shape.batch, self.layers[index].shape.outputs, self.layers[index].shape.out_height,
                     self.layers[index].shape.out_width].map(Int.init)
        }
    }

    var inputShape: [Int] {
        let first = layers[0].shape
        return [first.batch, first.channels, first.height, first.width].map(Int.init)
    }

    var outputShape: [Int] {
        let last = layers[layers.count - 1].shape
        return [last.batch, last.outputs, last.out_height, last.out_width].map(Int.init)
    }

    /// The stack's output for x, with `layers`' weights and biases.
    func forward(_ x: Tensor, layers: [WeightAndBias]) -> (output: Tensor, pass: Pass) {
        let (output, pass) = forward(x.values, weights: layers.map(\.weight), biases: layers.map { $0.bias?.value.values })
        return (Tensor(shape: outputShape, values: output), pass)
    }

    /// From dL/d(output): adds each layer's weight and bias gradients to theirs (when
    /// `parameterGradients`), returns dL/d(input) (when `inputGradient`).
    func backward(_ pass: Pass, dy: Tensor, layers: [WeightAndBias], inputGradient: Bool, parameterGradients: Bool)
        -> Tensor? {
        backward(pass, dy: dy.values, weights: layers.map(\.weight), biases: layers.map(\.bias), inputGradient: inputGradient,
                 parameterGradients: parameterGradients)
            .map { Tensor(shape: inputShape, values: $0) }
    }

    /// The stack's output from x, each layer's weights (whose conversions are kept while they
    /// are unchanged, `Parameter.version`) and biases.
    func forward(_ x: [Float], weights: [Parameter], biases: [[Float]?]) -> (output: [Float], pass: Pass) {
        precondition(x.count == inputShape.reduce(1, *) && weights.count == layers.count && biases.count == layers.count)
        var output = uninitializedFloats(outputShape.reduce(1, *))
        let versions = weights.map(\.version)
        let pass = lock.withLock {
            withPointers(weights.map(\.value.values)[...]) { weights in
                withPointers(biases[...]) { biases in
                    mf_dnnl_stack_forward(handle, x, weights, versions, biases, &output)
                }
            }
        }
        guard let pass else { preconditionFailure("oneDNN: a stack's forward pass failed") }
        return (output, Pass(pass))
    }

    /// From dy, dL by the stack's output: dx (when `inputGradient`); each layer's weights' and
    /// bias's gradients added to theirs (when `parameterGradients`; oneDNN sums them in as it
    /// converts them from its layout).
    func backward(_ pass: Pass, dy: [Float], weights: [Parameter], biases: [Parameter?], inputGradient: Bool,
                  parameterGradients: Bool) -> [Float]? {
        precondition(dy.count == outputShape.reduce(1, *) && weights.count == layers.count && biases.count == layers.count)
        precondition(zip(layers, biases).allSatisfy { $0.bias == ($1 != nil) })
        var dx = inputGradient ? uninitializedFloats(inputShape.reduce(1, *)) : nil
        let versions = weights.map(\.version)
        let status = lock.withLock {
            withPointers(weights.map(\.value.values)[...]) { weightValues in
                withOptionalPointer(&dx) { dxPointer in
                    withGradients(weights + biases) { gradients in
                        let (weightGradients, biasGradients) = (Array(gradients[..<layers.count]),
                                                                Array(gradients[layers.count...]))
                        return mf_dnnl_stack_backward(handle, pass.handle, dy, weightValues, versions, dxPointer,
                                                      parameterGradients ? weightGradients : nil, biasGradients)
                    }
                }
            }
        }
        precondition(status == 0, "oneDNN: a stack's backward pass failed")
        return dx
    }
}

/// `body` with a pointer to each array's storage (nil for a nil array).
private func withPointers<R>(_ arrays: ArraySlice<[Float]?>, _ pointers: [UnsafePointer<Float>?] = [],
                             _ body: ([UnsafePointer<Float>?]) -> R) -> R {
    guard let first = arrays.first else { return body(pointers) }
    guard let array = first else { return withPointers(arrays.dropFirst(), pointers + [nil], body) }
    return array.withUnsafeBufferPointer { withPointers(arrays.dropFirst(), pointers + [$0.baseAddress], body) }
}

private func withPointers<R>(_ arrays: ArraySlice<[Float]>, _ body: ([UnsafePointer<Float>?]) -> R) -> R {
    withPointers(arrays.map { Optional($0) }[...], [], body)
}
