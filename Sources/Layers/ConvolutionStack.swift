import CDNNLBridge
import Foundation
import Tensors

/// Convolutions applied one after the other, each followed by the same rectifier (ReLU or
/// LeakyReLU, fused into it): a discriminator's, a classifier's or an encoder's body. On
/// oneDNN the whole stack runs as one (`OneDNNStack`): the activations between the layers, and
/// their gradients, stay in oneDNN's layout and precision. Otherwise, and where oneDNN cannot,
/// layer by layer.
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
        var layers: [Conv2D.Cache] = []
        var stack: OneDNNStack? = nil
        var pass: OneDNNStack.Pass? = nil
    }

    /// oneDNN's stack for this input, when the engine is oneDNN and it has one.
    func oneDNN(_ shape: [Int]) -> OneDNNStack? { OneDNN.stack(convolutions, inputShape: shape, activation: activation) }

    public func forward(_ x: Tensor) -> (output: Tensor, cache: Cache) {
        if let stack = oneDNN(x.shape) {
            let (output, pass) = stack.forward(x, layers: convolutions)
            return (output, Cache(inputShape: x.shape, stack: stack, pass: pass))
        }
        var cache = Cache(inputShape: x.shape)
        var h = x
        for conv in convolutions {
            let (activated, layerCache) = conv.forward(h, activation: activation)
            cache.layers.append(layerCache)
            h = activated
        }
        return (h, cache)
    }

    /// From dL/d(output): accumulates the weights' gradients (unless `parameterGradients` is
    /// false) and returns dL/d(input) (nil without `inputGradient`: the first layer's backward
    /// data is then skipped).
    public func backward(_ dOutput: Tensor, cache: Cache, parameterGradients: Bool = true, inputGradient: Bool = true)
        -> Tensor? {
        if let stack = cache.stack, let pass = cache.pass {
            return stack.backward(pass, dy: dOutput, layers: convolutions, inputGradient: inputGradient,
                                  parameterGradients: parameterGradients)
        }
        var d = dOutput
        for i in convolutions.indices.reversed() {
            guard let next = convolutions[i].backward(d, cache: cache.layers[i], parameterGradients: parameterGradients,
                                                      inputGradient: inputGradient || i > 0)
            else { return nil }
            d = next
        }
        return d
    }
}

/// Transposed convolutions applied one after the other, each followed by the same rectifier:
/// a decoder's body (the VAE's). On oneDNN the whole stack runs as one (`OneDNNStack`): the
/// activations between the layers and their gradients stay in oneDNN's layout and precision,
/// the bias and the rectifier applied on that layout. Otherwise, and where oneDNN cannot,
/// layer by layer.
public struct TransposedConvolutionStack {
    public let layers: [ConvTranspose2D]
    public let activation: FusedActivation

    public init(_ layers: [ConvTranspose2D], activation: FusedActivation) {
        precondition(activation.rectifierSlope != nil, "TransposedConvolutionStack: the activation is a rectifier")
        self.layers = layers
        self.activation = activation
    }

    public struct Cache: @unchecked Sendable {
        var layers: [ConvTranspose2D.Cache] = []
        var stack: OneDNNStack? = nil
        var pass: OneDNNStack.Pass? = nil
    }

    /// oneDNN's stack for this input, when the engine is oneDNN and it has one.
    func oneDNN(_ shape: [Int]) -> OneDNNStack? { OneDNN.stack(layers, inputShape: shape, activation: activation) }

    public func forward(_ x: Tensor) -> (output: Tensor, cache: Cache) {
        if let stack = oneDNN(x.shape) {
            let (output, pass) = stack.forward(x, layers: layers)
            return (output, Cache(stack: stack, pass: pass))
        }
        var cache = Cache()
        var h = x
        for layer in layers {
            let (activated, layerCache) = layer.forward(h, activation: activation)
            cache.layers.append(layerCache)
            h = activated
        }
        return (h, cache)
    }

    /// From dL/d(output): accumulates the weights' and biases' gradients, returns dL/d(input).
    public func backward(_ dOutput: Tensor, cache: Cache) -> Tensor {
        if let stack = cache.stack, let pass = cache.pass {
            return stack.backward(pass, dy: dOutput, layers: layers, inputGradient: true, parameterGradients: true)!
        }
        var d = dOutput
        for i in layers.indices.reversed() { d = layers[i].backward(d, cache: cache.layers[i]) }
        return d
    }
}

/// A layer a oneDNN stack can hold, with its bias and rectifier.
protocol StackableLayer: WeightAndBias {
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
    /// oneDNN's stack of `layers` for an input of `shape`, when the engine is oneDNN and it has one.
    static func stack(_ layers: [any StackableLayer], inputShape shape: [Int], activation: FusedActivation) -> OneDNNStack? {
        guard case .oneDNN(let precision) = ConvolutionEngine.current else { return nil }
        var (keys, shape) = ([OneDNNLayerKey](), shape)
        for layer in layers {
            let (key, output) = layer.stackKey(shape, activation: activation, precision: precision)
            (keys, shape) = (keys + [key], output)
        }
        return stack(keys)
    }
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
