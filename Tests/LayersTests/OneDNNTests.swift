@testable import Layers
import Tensors
import TestSupport
import XCTest

/// The convolutions on oneDNN against the im2col + sgemm path and against finite differences:
/// forward, backward data and backward weights, strides 1 and 2, output padding and 1-channel
/// layers. fp32 agrees with im2col to 1e-4 of each result's largest value (other summation
/// orders); bf16 to 2e-2 (its inputs keep 8 bits of mantissa: 2^-9 relative per product, and
/// sums of up to C K K = 3,200 products partly cancel).
final class OneDNNTests: XCTestCase {
    var random = RandomNumbers(seed: 77)

    override func tearDown() { ConvolutionEngine.current = .im2col }

    /// The layer's output, input gradient and parameter gradients on `engine`.
    func run(_ engine: ConvolutionEngine, _ forward: (Tensor) -> (Tensor, (Tensor) -> Tensor), x: Tensor, dy: Tensor,
             parameters: [Parameter]) -> [[Float]] {
        ConvolutionEngine.current = engine
        for parameter in parameters { parameter.gradient.zero() }
        let (y, backward) = forward(x)
        let dx = backward(dy)
        return [y.values, dx.values] + parameters.map(\.gradient.values)
    }

    func compare(_ label: String, _ layerForward: (Tensor) -> (Tensor, (Tensor) -> Tensor), x: Tensor, outputShape: [Int],
                 parameters: [Parameter], precisions: [Precision] = Precision.allCases) {
        let dy = random.normal(outputShape)
        let reference = run(.im2col, layerForward, x: x, dy: dy, parameters: parameters)
        let names = ["output", "dx"] + parameters.map(\.name)
        for (precision, tolerance) in [(Precision.fp32, Float(1e-4)), (.bf16, 2e-2)] where precisions.contains(precision) {
            if precision == .bf16 && !OneDNN.hasBFloat16 { continue }
            let result = run(.oneDNN(precision), layerForward, x: x, dy: dy, parameters: parameters)
            for (name, (a, b)) in zip(names, zip(result, reference)) {
                let scale = b.map(abs).max() ?? 1
                assertClose(a, b, absolute: tolerance * max(scale, 1e-6), "\(label) \(precision) \(name)")
            }
        }
    }

    func testConv2DAgreesWithIm2col() {
        // The last is large enough for the workers to share the bias gradient's channel sums.
        for (channels, outputs, size, kernel, stride, padding) in [(1, 8, 16, 5, 2, 2), (8, 16, 16, 5, 2, 2), (3, 4, 9, 3, 1, 1),
                                                                  (4, 2, 7, 3, 2, 0), (2, 16, 48, 5, 2, 2)] {
            let layer = Conv2D(inputChannels: channels, outputChannels: outputs, kernelSize: kernel, stride: stride,
                               padding: padding, random: &random)
            let x = random.normal([4, channels, size, size])
            ConvolutionEngine.current = .im2col
            let shape = layer.forward(x).output.shape
            compare("Conv2D \(channels)->\(outputs) k\(kernel) s\(stride) p\(padding)", { x in
                let (y, cache) = layer.forward(x)
                return (y, { layer.backward($0, cache: cache) })
            }, x: x, outputShape: shape, parameters: layer.parameters)
        }
    }

    func testConvTranspose2DAgreesWithIm2col() {
        for (channels, outputs, size, kernel, stride, padding, outputPadding) in [(16, 8, 4, 5, 2, 2, 1), (8, 1, 8, 5, 2, 2, 1),
                                                                                 (3, 4, 5, 3, 1, 1, 0), (4, 2, 5, 4, 2, 1, 0)] {
            let layer = ConvTranspose2D(inputChannels: channels, outputChannels: outputs, kernelSize: kernel, stride: stride,
                                        padding: padding, outputPadding: outputPadding, random: &random)
            let x = random.normal([3, channels, size, size])
            ConvolutionEngine.current = .im2col
            let shape = layer.forward(x).output.shape
            compare("ConvTranspose2D \(channels)->\(outputs) k\(kernel) s\(stride) p\(padding) op\(outputPadding)", { x in
                let (y, cache) = layer.forward(x)
                return (y, { layer.backward($0, cache: cache) })
            }, x: x, outputShape: shape, parameters: layer.parameters)
        }
    }

    /// A fused activation is the layer followed by that activation, forward and backward, on
    /// every engine (oneDNN applies it as a post-op of the convolution; a transposed layer and
    /// im2col in one pass after the bias); on im2col exactly.
    func testFusedActivationIsTheLayerThenTheActivation() {
        let activations: [(FusedActivation, (Tensor) -> (output: Tensor, cache: Tensor), (Tensor, Tensor) -> Tensor)] = [
            (.relu, { Activation.relu($0) }, { Activation.reluBackward($0, cache: $1) }),
            (.leakyReLU(slope: 0.2), { Activation.leakyReLU($0) }, { Activation.leakyReLUBackward($0, cache: $1) }),
            (.tanh, { Activation.tanh($0) }, { Activation.tanhBackward($0, cache: $1) }),
        ]
        let conv = Conv2D(inputChannels: 3, outputChannels: 16, kernelSize: 5, stride: 2, padding: 2, random: &random)
        // To one channel (forward on im2col) and to 16; the second input makes an output large
        // enough for the workers to share the bias-and-activation pass.
        let deconvs = [1, 16].map {
            ConvTranspose2D(inputChannels: 8, outputChannels: $0, kernelSize: 5, stride: 2, padding: 2, outputPadding: 1,
                            random: &random)
        }
        var engines = [ConvolutionEngine.im2col, .oneDNN(.fp32)]
        if OneDNN.hasBFloat16 { engines.append(.oneDNN(.bf16)) }
        for engine in engines {
            ConvolutionEngine.current = engine
            let tolerance: Float = engine == .oneDNN(.bf16) ? 2e-2 : engine == .im2col ? 0 : 1e-5
            for (activation, apply, derivative) in activations {
                let layers: [(String, Tensor, [Parameter], (Tensor, FusedActivation?) -> (Tensor, (Tensor) -> Tensor))] =
                    [("Conv2D", random.normal([2, 3, 12, 12]), conv.parameters, { x, activation in
                        let (y, cache) = conv.forward(x, activation: activation)
                        return (y, { conv.backward($0, cache: cache) })
                    })] + zip(deconvs, [[2, 8, 6, 6], [4, 8, 24, 24]]).map { deconv, inputShape in
                        ("ConvTranspose2D to \(deconv.weight.value.shape[1])", random.normal(inputShape), deconv.parameters,
                         { x, activation in
                             let (y, cache) = deconv.forward(x, activation: activation)
                             return (y, { deconv.backward($0, cache: cache) })
                         })
                    }
                for (name, x, parameters, layer) in layers {
                    let label = "\(name) \(activation) on \(engine)"
                    for parameter in parameters { parameter.gradient.zero() }
                    let (plain, plainBackward) = layer(x, nil)
                    let (activated, activationCache) = apply(plain)
                    let dy = random.normal(plain.shape)
                    let dx = plainBackward(derivative(dy, activationCache))
                    let gradients = parameters.map(\.gradient.values)
                    for parameter in parameters { parameter.gradient.zero() }
                    let (fused, fusedBackward) = layer(x, activation)
                    assertClose(fused.values, activated.values, absolute: tolerance * 4, "\(label) output")
                    let fusedDx = fusedBackward(dy)
                    let scale = dx.values.map(abs).max()!
                    assertClose(fusedDx.values, dx.values, absolute: tolerance * scale + 1e-6, "\(label) dx")
                    for (parameter, reference) in zip(parameters, gradients) {
                        let scale = reference.map(abs).max()!
                        assertClose(parameter.gradient.values, reference, absolute: tolerance * scale + 1e-5,
                                    "\(label) \(parameter.name)")
                    }
                }
            }
        }
    }

    /// A stack of convolutions with a rectifier runs on oneDNN as one (its activations in
    /// oneDNN's layout between the layers) and agrees with its layers run one by one: output,
    /// dx, every weight and bias gradient (fp32 against im2col; bf16 against the layers on
    /// oneDNN bf16, since over three layers bf16 moves pre-activations near 0 across the
    /// rectifier's kink). Without dx, or without the parameters' gradients, it makes only what
    /// is asked.
    func testConvolutionStackAgreesWithItsLayersOneByOne() {
        let convolutions = [(1, 16), (16, 32), (32, 16)].map {
            Conv2D(inputChannels: $0.0, outputChannels: $0.1, kernelSize: 5, stride: 2, padding: 2, random: &random)
        }
        let parameters = convolutions.flatMap(\.parameters)
        let stack = ConvolutionStack(convolutions, activation: .leakyReLU(slope: 0.2))
        let x = random.normal([3, 1, 32, 32])
        let dy = random.normal([3, 16, 4, 4])
        func layerByLayer(_ engine: ConvolutionEngine) -> [[Float]] {
            ConvolutionEngine.current = engine
            for parameter in parameters { parameter.gradient.zero() }
            var (h, caches) = (x, [Conv2D.Cache]())
            for conv in convolutions {
                let (y, cache) = conv.forward(h, activation: .leakyReLU(slope: 0.2))
                (h, caches) = (y, caches + [cache])
            }
            var d = dy
            for (conv, cache) in zip(convolutions, caches).reversed() { d = conv.backward(d, cache: cache) }
            return [h.values, d.values] + parameters.map(\.gradient.values)
        }
        func asAStack(_ engine: ConvolutionEngine, inputGradient: Bool = true, parameterGradients: Bool = true) -> [[Float]] {
            ConvolutionEngine.current = engine
            for parameter in parameters { parameter.gradient.zero() }
            let (y, cache) = stack.forward(x)
            let dx = stack.backward(dy, cache: cache, parameterGradients: parameterGradients, inputGradient: inputGradient)
            XCTAssertEqual(dx == nil, !inputGradient, "\(engine)")
            return [y.values, dx?.values ?? []] + parameters.map(\.gradient.values)
        }
        let names = ["output", "dx"] + parameters.map(\.name)
        for (precision, reference, tolerance) in [(Precision.fp32, ConvolutionEngine.im2col, Float(1e-4)),
                                                  (.bf16, .oneDNN(.bf16), 2e-2)] {
            if precision == .bf16 && !OneDNN.hasBFloat16 { continue }
            let expected = layerByLayer(reference)
            ConvolutionEngine.current = .oneDNN(precision)
            assertRunsAsOneWhereItCan(stack.plan(x.shape), "\(precision)")
            let result = asAStack(.oneDNN(precision))
            for (index, (a, b)) in zip(result, expected).enumerated() {
                assertClose(a, b, absolute: tolerance * max(b.map(abs).max() ?? 1, 1e-6), "stack \(precision) \(names[index])")
            }
            let withoutDx = asAStack(.oneDNN(precision), inputGradient: false)
            XCTAssertEqual(Array(withoutDx.dropFirst(2)), Array(result.dropFirst(2)), "\(precision)")
            let withoutParameters = asAStack(.oneDNN(precision), parameterGradients: false)
            XCTAssertTrue(withoutParameters.dropFirst(2).allSatisfy { $0.allSatisfy { $0 == 0 } }, "\(precision)")
        }
    }

    /// A stack of transposed convolutions with a rectifier (a decoder's body) runs on oneDNN as
    /// one, its biases and rectifiers applied on oneDNN's layout (dnnl_channels.c): in fp32 it
    /// agrees with its layers on im2col to 1e-4 (output, dx, every weight and bias gradient);
    /// in bf16 it is no further from them than its layers run one by one on oneDNN bf16 are,
    /// within a factor of 3 (it also keeps the activations and gradients between its layers in
    /// bf16; measured 1.0-2.1x: bf16 gradients summed over 3,072 positions are 3-15% off here
    /// either way; a wrong bias or derivative is off by the gradient itself). 24 channels leave
    /// part of a 16-channel block as padding; ReLU and LeakyReLU. On im2col the stack is its
    /// layers.
    func testTransposedConvolutionStackAgreesWithItsLayersOneByOne() {
        let layers = [(16, 16), (16, 24), (24, 16)].map {
            ConvTranspose2D(inputChannels: $0.0, outputChannels: $0.1, kernelSize: 5, stride: 2, padding: 2, outputPadding: 1,
                            random: &random)
        }
        let parameters = layers.flatMap(\.parameters)
        let (x, dy) = (random.normal([3, 16, 4, 4]), random.normal([3, 16, 32, 32]))
        let names = ["output", "dx"] + parameters.map(\.name)
        for activation in [FusedActivation.relu, .leakyReLU(slope: 0.2)] {
            let stack = TransposedConvolutionStack(layers, activation: activation)
            func run(_ engine: ConvolutionEngine, asAStack: Bool) -> [[Float]] {
                ConvolutionEngine.current = engine
                for parameter in parameters { parameter.gradient.zero() }
                if asAStack {
                    let (y, cache) = stack.forward(x)
                    return [y.values, stack.backward(dy, cache: cache).values] + parameters.map(\.gradient.values)
                }
                var (h, caches) = (x, [ConvTranspose2D.Cache]())
                for layer in layers {
                    let (y, cache) = layer.forward(h, activation: activation)
                    (h, caches) = (y, caches + [cache])
                }
                var d = dy
                for (layer, cache) in zip(layers, caches).reversed() { d = layer.backward(d, cache: cache) }
                return [h.values, d.values] + parameters.map(\.gradient.values)
            }
            let reference = run(.im2col, asAStack: false)
            XCTAssertEqual(run(.im2col, asAStack: true), reference, "\(activation) on im2col")
            for precision in OneDNN.hasBFloat16 ? [Precision.fp32, .bf16] : [.fp32] {
                ConvolutionEngine.current = .oneDNN(precision)
                assertRunsAsOneWhereItCan(stack.plan(x.shape), "\(precision)")
                let result = run(.oneDNN(precision), asAStack: true)
                let layerByLayer = precision == .bf16 ? run(.oneDNN(.bf16), asAStack: false) : nil
                for (index, (a, b)) in zip(result, reference).enumerated() {
                    let label = "transposed stack \(activation) \(precision) \(names[index])"
                    let scale = max(b.map(abs).max() ?? 1, 1e-6)
                    guard let layerByLayer else {
                        assertClose(a, b, absolute: 1e-4 * scale, label)
                        continue
                    }
                    let error = zip(a, b).map { abs($0 - $1) }.max()! / scale
                    let layersError = zip(layerByLayer[index], b).map { abs($0 - $1) }.max()! / scale
                    XCTAssertLessThanOrEqual(error, 3 * layersError + 1e-3, label)
                }
            }
        }
    }

    /// In fp32 from 128 channels a layer's direct convolution (a convolution's forward, a
    /// transposed one's backward data) runs on channels-last copies where oneDNN has its
    /// brgemm kernel for it (AVX-512): alone (the caller's tensors converted to channels-last
    /// instead of oneDNN's blocks) and inside stacks (a detour from the stack's layout and back;
    /// two such layers in a row, 136 channels leaving part of a block, the first layer of a
    /// transposed stack handing its input gradient to the caller from its copy). Each agrees
    /// with im2col to 1e-4; bf16 stays on oneDNN's own layouts.
    func testChannelsLastConvolutionsAgreeWithIm2col() {
        let wide = OneDNN.instructionSet.hasPrefix("avx512")
        let conv = Conv2D(inputChannels: 128, outputChannels: 16, kernelSize: 5, stride: 2, padding: 2, random: &random)
        let deconv = ConvTranspose2D(inputChannels: 16, outputChannels: 128, kernelSize: 5, stride: 2, padding: 2,
                                     outputPadding: 1, random: &random)
        let (image, grid) = (random.normal([2, 128, 8, 8]), random.normal([2, 16, 4, 4]))
        ConvolutionEngine.current = .oneDNN(.fp32)
        XCTAssertEqual(conv.oneDNN(image.shape, activation: nil)?.channelsLast, wide, "Conv2D 128->16")
        XCTAssertEqual(deconv.oneDNN(grid.shape)?.channelsLast, wide, "ConvTranspose2D 16->128")
        if OneDNN.hasBFloat16 {
            ConvolutionEngine.current = .oneDNN(.bf16)
            XCTAssertEqual(conv.oneDNN(image.shape, activation: nil)?.channelsLast, false, "Conv2D 128->16 bf16")
        }
        compare("Conv2D 128->16", { x in
            let (y, cache) = conv.forward(x)
            return (y, { conv.backward($0, cache: cache) })
        }, x: image, outputShape: [2, 16, 4, 4], parameters: conv.parameters)
        compare("ConvTranspose2D 16->128", { x in
            let (y, cache) = deconv.forward(x)
            return (y, { deconv.backward($0, cache: cache) })
        }, x: grid, outputShape: [2, 128, 8, 8], parameters: deconv.parameters)

        // (oneDNN 2.6 has only reference loops for some passes between layers whose channels
        // are not whole blocks of 16, and such stacks are split: these run as one.)
        let stack = ConvolutionStack(convolutions([(16, 128), (128, 136), (136, 32)]), activation: .leakyReLU(slope: 0.2))
        let transposed = TransposedConvolutionStack(transposedConvolutions([(32, 136), (136, 128), (128, 16)]),
                                                    activation: .relu)
        // Channels-last: the stack's last two layers (from 128 and 136 channels), the transposed
        // stack's first two (their backward data reads 136- and 128-channel gradients).
        for (name, x, runs, expected) in [("stack", random.normal([2, 16, 16, 16]), self.runs(stack), [false, wide, wide]),
                                          ("transposed stack", random.normal([2, 32, 2, 2]), self.runs(transposed),
                                           [wide, wide, false])] {
            ConvolutionEngine.current = .oneDNN(.fp32)
            // Below AVX-512 oneDNN may split these stacks (and has no brgemm kernel anyway).
            if wide || runs.primitives(x.shape) != nil {
                XCTAssertEqual(runs.primitives(x.shape)?.channelsLast, expected, name)
            }
            if OneDNN.hasBFloat16 {
                ConvolutionEngine.current = .oneDNN(.bf16)
                XCTAssertEqual(runs.primitives(x.shape)?.channelsLast, [false, false, false], "\(name) bf16")
            }
            compareStack(name, runs, x: x, precision: .fp32)
        }
    }

    /// In bf16, where oneDNN 2.6's backward-weights kernel is slow (a grid of at most 16
    /// positions, an image of at least 64 channels) a layer's weight gradient is one matrix
    /// product on im2col columns, and a convolution's bias gradient a sum of its own: single
    /// layers (a kernel 4 / padding 1 one too), the deeper layers of a stack and the first ones
    /// of a transposed stack, each against im2col in fp32 to bf16's tolerance.
    func testWeightGradientsAsOneMatrixProductAgreeWithIm2col() throws {
        try XCTSkipUnless(OneDNN.hasBFloat16, "no bfloat16 on this CPU")
        let conv = Conv2D(inputChannels: 128, outputChannels: 16, kernelSize: 5, stride: 2, padding: 2, random: &random)
        let deconvs = [(5, 2, 1, [2, 16, 4, 4]), (4, 1, 0, [2, 16, 3, 3])].map { kernel, padding, outputPadding, shape in
            (ConvTranspose2D(inputChannels: 16, outputChannels: 64, kernelSize: kernel, stride: 2, padding: padding,
                             outputPadding: outputPadding, random: &random), shape)
        }
        ConvolutionEngine.current = .oneDNN(.bf16)
        XCTAssertEqual(conv.oneDNN([2, 128, 8, 8], activation: nil)?.weightsByProduct, true, "Conv2D 128->16")
        for (deconv, shape) in deconvs {
            XCTAssertEqual(deconv.oneDNN(shape)?.weightsByProduct, true, "ConvTranspose2D k\(deconv.kernelSize)")
        }
        ConvolutionEngine.current = .oneDNN(.fp32)
        XCTAssertEqual(conv.oneDNN([2, 128, 8, 8], activation: nil)?.weightsByProduct, false, "Conv2D 128->16 fp32")
        compare("Conv2D 128->16", { x in
            let (y, cache) = conv.forward(x)
            return (y, { conv.backward($0, cache: cache) })
        }, x: random.normal([2, 128, 8, 8]), outputShape: [2, 16, 4, 4], parameters: conv.parameters)
        for (deconv, shape) in deconvs {
            let x = random.normal(shape)
            ConvolutionEngine.current = .im2col
            compare("ConvTranspose2D k\(deconv.kernelSize)", { x in
                let (y, cache) = deconv.forward(x)
                return (y, { deconv.backward($0, cache: cache) })
            }, x: x, outputShape: deconv.forward(x).output.shape, parameters: deconv.parameters)
        }
        let stack = ConvolutionStack(convolutions([(8, 64), (64, 128), (128, 32)]), activation: .leakyReLU(slope: 0.2))
        let transposed = TransposedConvolutionStack(transposedConvolutions([(32, 128), (128, 64), (64, 16)]), activation: .relu)
        for (name, x, runs, expected) in [("stack", random.normal([2, 8, 16, 16]), self.runs(stack), [false, true, true]),
                                          ("transposed stack", random.normal([2, 32, 2, 2]), self.runs(transposed),
                                           [true, true, false])] {
            ConvolutionEngine.current = .oneDNN(.bf16)
            XCTAssertEqual(runs.primitives(x.shape)?.weightsByProduct, expected, name)
            compareStack(name, runs, x: x, precision: .bf16)
        }
    }

    typealias Run = (Tensor) -> (Tensor, (Tensor) -> Tensor)

    func convolutions(_ channels: [(Int, Int)]) -> [Conv2D] {
        channels.map { Conv2D(inputChannels: $0.0, outputChannels: $0.1, kernelSize: 5, stride: 2, padding: 2, random: &random) }
    }

    func transposedConvolutions(_ channels: [(Int, Int)]) -> [ConvTranspose2D] {
        channels.map {
            ConvTranspose2D(inputChannels: $0.0, outputChannels: $0.1, kernelSize: 5, stride: 2, padding: 2, outputPadding: 1,
                            random: &random)
        }
    }

    /// A stack run as one, its layers run one by one, its parameters and its oneDNN primitives.
    func runs(_ stack: ConvolutionStack)
        -> (asAStack: Run, oneByOne: Run, parameters: [Parameter], primitives: ([Int]) -> OneDNNStack?) {
        ({ x in
            let (y, cache) = stack.forward(x)
            return (y, { stack.backward($0, cache: cache)! })
        }, oneByOne(stack.convolutions, forward: { $0.forward($1, activation: stack.activation) },
                    backward: { $0.backward($1, cache: $2) }),
         stack.convolutions.flatMap(\.parameters), { stack.oneDNN($0) })
    }

    func runs(_ stack: TransposedConvolutionStack)
        -> (asAStack: Run, oneByOne: Run, parameters: [Parameter], primitives: ([Int]) -> OneDNNStack?) {
        ({ x in
            let (y, cache) = stack.forward(x)
            return (y, { stack.backward($0, cache: cache) })
        }, oneByOne(stack.layers, forward: { $0.forward($1, activation: stack.activation) },
                    backward: { $0.backward($1, cache: $2) }),
         stack.layers.flatMap(\.parameters), { stack.oneDNN($0) })
    }

    /// `layers` forward one after the other, and backward in reverse.
    func oneByOne<Layer, Cache>(_ layers: [Layer], forward: @escaping (Layer, Tensor) -> (output: Tensor, cache: Cache),
                                backward: @escaping (Layer, Tensor, Cache) -> Tensor) -> Run {
        { x in
            let (y, caches) = layers.reduce((x, [Cache]())) { state, layer in
                let (y, cache) = forward(layer, state.0)
                return (y, state.1 + [cache])
            }
            return (y, { dy in zip(layers, caches).reversed().reduce(dy) { backward($1.0, $0, $1.1) } })
        }
    }

    /// The stack on oneDNN in `precision` against its layers one by one on im2col: output, dx
    /// and every parameter's gradient. In fp32 to 1e-4 of each one's largest value; in bf16 no
    /// further from them than its layers one by one on oneDNN bf16 are, within a factor of 3
    /// (over three layers bf16 moves pre-activations across the rectifiers' kink: here 0.2-18%
    /// off either way, stack and layers alike; a wrong gradient is off by itself), plus 2^-8
    /// (the stack keeps the gradients between its layers in bf16, 2^-9 each, where layers one by
    /// one hand them on in fp32: a last layer's bias gradient sums them).
    func compareStack(_ name: String, _ runs: (asAStack: Run, oneByOne: Run, parameters: [Parameter],
                                               primitives: ([Int]) -> OneDNNStack?),
                      x: Tensor, precision: Precision) {
        ConvolutionEngine.current = .im2col
        let dy = random.normal(runs.oneByOne(x).0.shape)
        let reference = run(.im2col, runs.oneByOne, x: x, dy: dy, parameters: runs.parameters)
        let result = run(.oneDNN(precision), runs.asAStack, x: x, dy: dy, parameters: runs.parameters)
        let layers = precision == .bf16 ? run(.oneDNN(.bf16), runs.oneByOne, x: x, dy: dy, parameters: runs.parameters) : nil
        for (index, label) in (["output", "dx"] + runs.parameters.map(\.name)).enumerated() {
            let (a, b) = (result[index], reference[index])
            let scale = max(b.map(abs).max() ?? 1, 1e-6)
            guard let layers else {
                assertClose(a, b, absolute: 1e-4 * scale, "\(name) \(precision) \(label)")
                continue
            }
            let error = zip(a, b).map { abs($0 - $1) }.max()! / scale
            let layersError = zip(layers[index], b).map { abs($0 - $1) }.max()! / scale
            XCTAssertLessThanOrEqual(error, 3 * layersError + 4e-3, "\(name) \(precision) \(label)")
        }
    }

    /// oneDNN fp32 against central finite differences (`assertGradients`'s tolerances).
    func testGradientsMatchFiniteDifferences() {
        ConvolutionEngine.current = .oneDNN(.fp32)
        let conv = Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 5, stride: 2, padding: 2, random: &random)
        assertGradients("oneDNN Conv2D", input: random.normal([2, 2, 8, 8]), parameters: conv.parameters) { x in
            let (y, cache) = conv.forward(x)
            return (y, { conv.backward($0, cache: cache) })
        }
        let deconv = ConvTranspose2D(inputChannels: 3, outputChannels: 2, kernelSize: 5, stride: 2, padding: 2, outputPadding: 1,
                                     random: &random)
        assertGradients("oneDNN ConvTranspose2D", input: random.normal([2, 3, 4, 4]), parameters: deconv.parameters) { x in
            let (y, cache) = deconv.forward(x)
            return (y, { deconv.backward($0, cache: cache) })
        }
        // With an activation (tanh: smooth, no kinks for the differences to straddle).
        assertGradients("oneDNN Conv2D + tanh", input: random.normal([2, 2, 8, 8]), parameters: conv.parameters) { x in
            let (y, cache) = conv.forward(x, activation: .tanh)
            return (y, { conv.backward($0, cache: cache) })
        }
        assertGradients("oneDNN ConvTranspose2D + tanh", input: random.normal([2, 3, 4, 4]), parameters: deconv.parameters) { x in
            let (y, cache) = deconv.forward(x, activation: .tanh)
            return (y, { deconv.backward($0, cache: cache) })
        }
    }

    /// Without the input gradient, on either engine, the weights' gradients are the same and
    /// no dx is made.
    func testWithoutInputGradientTheWeightsGradientsAreTheSame() {
        let conv = Conv2D(inputChannels: 1, outputChannels: 4, kernelSize: 5, stride: 2, padding: 2, random: &random)
        let x = random.normal([3, 1, 8, 8])
        for engine in [ConvolutionEngine.im2col, .oneDNN(.fp32)] {
            ConvolutionEngine.current = engine
            let (y, cache) = conv.forward(x)
            let dy = Tensor(shape: y.shape, values: y.values.map { $0 * 0.5 + 1 })
            var gradients: [[Float]] = []
            for inputGradient in [true, false] {
                conv.zeroGradients()
                let dx = conv.backward(dy, cache: cache, parameterGradients: true, inputGradient: inputGradient)
                XCTAssertEqual(dx == nil, !inputGradient, "\(engine)")
                gradients.append(conv.weight.gradient.values + conv.bias!.gradient.values)
            }
            XCTAssertEqual(gradients[0], gradients[1], "\(engine)")
        }
    }

    /// A backward pass adds its parameter gradients to what they hold (a discriminator's real
    /// and fake batches, before one update), which oneDNN does as it converts them from its
    /// layout: two passes give the sum of each alone, for single layers and stacks of both kinds,
    /// on every precision (the same oneDNN arithmetic each time: to rounding of the one sum).
    func testParameterGradientsAddUpOverBackwardPasses() {
        let conv = Conv2D(inputChannels: 2, outputChannels: 16, kernelSize: 5, stride: 2, padding: 2, random: &random)
        let deconv = ConvTranspose2D(inputChannels: 16, outputChannels: 8, kernelSize: 5, stride: 2, padding: 2,
                                     outputPadding: 1, random: &random)
        let convolutions = [(1, 16), (16, 16)].map {
            Conv2D(inputChannels: $0.0, outputChannels: $0.1, kernelSize: 5, stride: 2, padding: 2, random: &random)
        }
        let transposed = [(16, 16), (16, 8)].map {
            ConvTranspose2D(inputChannels: $0.0, outputChannels: $0.1, kernelSize: 5, stride: 2, padding: 2, outputPadding: 1,
                            random: &random)
        }
        let stack = ConvolutionStack(convolutions, activation: .relu)
        let transposedStack = TransposedConvolutionStack(transposed, activation: .relu)
        let layers: [(String, Tensor, [Parameter], (Tensor) -> (Tensor, (Tensor) -> Tensor))] = [
            ("Conv2D", random.normal([2, 2, 16, 16]), conv.parameters, { x in
                let (y, cache) = conv.forward(x, activation: .relu)
                return (y, { conv.backward($0, cache: cache) })
            }),
            ("ConvTranspose2D", random.normal([2, 16, 4, 4]), deconv.parameters, { x in
                let (y, cache) = deconv.forward(x, activation: .relu)
                return (y, { deconv.backward($0, cache: cache) })
            }),
            ("ConvolutionStack", random.normal([2, 1, 16, 16]), convolutions.flatMap(\.parameters), { x in
                let (y, cache) = stack.forward(x)
                return (y, { stack.backward($0, cache: cache)! })
            }),
            ("TransposedConvolutionStack", random.normal([2, 16, 4, 4]), transposed.flatMap(\.parameters), { x in
                let (y, cache) = transposedStack.forward(x)
                return (y, { transposedStack.backward($0, cache: cache) })
            }),
        ]
        for precision in OneDNN.hasBFloat16 ? [Precision.fp32, .bf16] : [.fp32] {
            ConvolutionEngine.current = .oneDNN(precision)
            for (name, x, parameters, layer) in layers {
                let (y, backward) = layer(x)
                let (first, second) = (random.normal(y.shape), random.normal(y.shape))
                var alone: [[Float]] = []
                for dy in [first, second] {
                    for parameter in parameters { parameter.gradient.zero() }
                    _ = backward(dy)
                    alone.append(parameters.flatMap(\.gradient.values))
                }
                for parameter in parameters { parameter.gradient.zero() }
                _ = backward(first)
                _ = backward(second)
                let sum = zip(alone[0], alone[1]).map { $0 + $1 }
                let scale = sum.map(abs).max()!
                assertClose(parameters.flatMap(\.gradient.values), sum, absolute: 1e-6 * scale, "\(name) \(precision)")
            }
        }
    }

    /// oneDNN keeps a layer's weights converted while their parameter is unchanged; every way of
    /// changing a parameter (one element, a pass in place as Adam's, a new value) gives it a new
    /// version, and the next forward and backward use the new weights: after each change a
    /// convolution, a transposed convolution and a stack agree with im2col (a stack in fp32
    /// only: in bf16 it is compared with its layers one by one, `testConvolutionStack...`).
    func testConvertedWeightsFollowEveryChangeOfTheirParameter() {
        let single = Conv2D(inputChannels: 2, outputChannels: 16, kernelSize: 5, stride: 2, padding: 2, random: &random)
        let transposed = ConvTranspose2D(inputChannels: 16, outputChannels: 8, kernelSize: 5, stride: 2, padding: 2,
                                         outputPadding: 1, random: &random)
        let convolutions = [(1, 16), (16, 16)].map {
            Conv2D(inputChannels: $0.0, outputChannels: $0.1, kernelSize: 5, stride: 2, padding: 2, random: &random)
        }
        let stack = ConvolutionStack(convolutions, activation: .leakyReLU(slope: 0.2))
        typealias Layer = (name: String, x: Tensor, weights: [Parameter], parameters: [Parameter], bf16: Bool,
                           forward: (Tensor) -> (Tensor, (Tensor) -> Tensor))
        let layers: [Layer] = [
            ("Conv2D", random.normal([2, 2, 16, 16]), [single.weight], single.parameters, true, { x in
                let (y, cache) = single.forward(x)
                return (y, { single.backward($0, cache: cache) })
            }),
            ("ConvTranspose2D", random.normal([2, 16, 4, 4]), [transposed.weight], transposed.parameters, true, { x in
                let (y, cache) = transposed.forward(x)
                return (y, { transposed.backward($0, cache: cache) })
            }),
            ("ConvolutionStack", random.normal([2, 1, 16, 16]), convolutions.map(\.weight), convolutions.flatMap(\.parameters),
             false, { x in
                 let (y, cache) = stack.forward(x)
                 return (y, { stack.backward($0, cache: cache)! })
             }),
        ]
        let changes: [(String, (Parameter) -> Void)] = [
            ("one element", { $0.value.values[3] += 0.5 }),
            ("a pass in place", { parameter in
                parameter.value.values.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] *= -1.5 } }
            }),
            ("a new value", { $0.value = Tensor(shape: $0.value.shape, values: $0.value.values.map { $0 + 0.05 }) }),
        ]
        let precisions = OneDNN.hasBFloat16 ? [(Precision.fp32, Float(1e-4)), (.bf16, 2e-2)] : [(.fp32, 1e-4)]
        for (precision, tolerance) in precisions {
            for layer in layers where precision == .fp32 || layer.bf16 {
                ConvolutionEngine.current = .oneDNN(precision)
                let dy = random.normal(layer.forward(layer.x).0.shape)  // converts the weights once
                for (change, apply) in changes {
                    let before = layer.weights.map(\.version)
                    for weights in layer.weights { apply(weights) }
                    for (old, weights) in zip(before, layer.weights) { XCTAssertNotEqual(weights.version, old, change) }
                    let result = run(.oneDNN(precision), layer.forward, x: layer.x, dy: dy, parameters: layer.parameters)
                    let reference = run(.im2col, layer.forward, x: layer.x, dy: dy, parameters: layer.parameters)
                    for (name, (a, b)) in zip(["output", "dx"], zip(result, reference)) {
                        let scale = b.map(abs).max()!
                        assertClose(a, b, absolute: tolerance * scale, "\(layer.name) \(precision) after \(change): \(name)")
                    }
                }
            }
        }
        XCTAssertNotEqual(single.weight.version, single.bias!.version, "versions are never shared")
    }

    /// A stack runs on oneDNN as one where oneDNN has a kernel of its own for every pass of
    /// every layer in the stack's layouts: always with AVX-512 (its jit kernels cover the
    /// tests' shapes); with less (AVX2: a 1-channel first layer's backward passes in a blocked
    /// layout are reference loops) it may be split, never into a part that runs them.
    func assertRunsAsOneWhereItCan(_ plan: StackPlan?, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let plan else { return XCTFail("\(label): no plan on oneDNN", file: file, line: line) }
        if OneDNN.instructionSet.hasPrefix("avx512") {
            XCTAssertNotNil(plan.whole, "\(label): the stack runs as one", file: file, line: line)
        }
        XCTAssertFalse(plan.parts.isEmpty, label, file: file, line: line)
    }

    /// A pass oneDNN has only reference loops for (here declined on purpose: on this CPU's
    /// oneDNN every pass of these shapes may have a kernel) runs on im2col and the others on
    /// oneDNN: every mix of declined passes, for a convolution with a bias and a fused
    /// rectifier, one without a bias, and a transposed convolution with its activation, agrees
    /// with im2col (output, dx, every parameter's gradient) as oneDNN alone does (with a
    /// rectifier in fp32 only: bf16 moves pre-activations near 0 across its kink); the roads
    /// say which pass ran where.
    func testDeclinedPassesRunOnIm2colAndAgree() {
        defer { OneDNN.setTesting() }
        let conv = Conv2D(inputChannels: 3, outputChannels: 16, kernelSize: 5, stride: 2, padding: 2, random: &random)
        let plain = Conv2D(inputChannels: 16, outputChannels: 8, kernelSize: 3, stride: 1, padding: 1, bias: false,
                           random: &random)
        let deconv = ConvTranspose2D(inputChannels: 16, outputChannels: 8, kernelSize: 5, stride: 2, padding: 2,
                                     outputPadding: 1, random: &random)
        let sets: [Set<ConvolutionPass>] = [[.forward], [.backwardData], [.backwardWeights], [.backwardData, .backwardWeights],
                                            [.forward, .backwardWeights], [.forward, .backwardData]]
        for declined in sets {
            OneDNN.setTesting(declined: declined)
            let label = "declined \(declined.map(\.description).sorted())"
            // With a rectifier in fp32 only; without, in every precision.
            for (activation, precisions) in [(FusedActivation?.some(.leakyReLU(slope: 0.2)), [Precision.fp32]),
                                             (nil, Precision.allCases)] {
                let name = activation == nil ? "" : " \(activation!)"
                compare("Conv2D 3->16\(name), \(label)", { x in
                    let (y, cache) = conv.forward(x, activation: activation)
                    return (y, { conv.backward($0, cache: cache) })
                }, x: random.normal([4, 3, 12, 12]), outputShape: [4, 16, 6, 6], parameters: conv.parameters,
                        precisions: precisions)
                compare("ConvTranspose2D 16->8\(name), \(label)", { x in
                    let (y, cache) = deconv.forward(x, activation: activation.map { _ in .relu })
                    return (y, { deconv.backward($0, cache: cache) })
                }, x: random.normal([3, 16, 4, 4]), outputShape: [3, 8, 8, 8], parameters: deconv.parameters,
                        precisions: precisions)
            }
            compare("Conv2D 16->8 no bias, \(label)", { x in
                let (y, cache) = plain.forward(x)
                return (y, { plain.backward($0, cache: cache) })
            }, x: random.normal([4, 16, 6, 6]), outputShape: [4, 8, 6, 6], parameters: plain.parameters)
            ConvolutionEngine.current = .oneDNN(.fp32)
            ConvolutionRoads.startRecording()
            _ = conv.backward(random.normal([2, 16, 6, 6]), cache: conv.forward(random.normal([2, 3, 12, 12])).cache)
            let roads = ConvolutionRoads.stopRecording()
            XCTAssertEqual(roads.map(\.pass), ConvolutionPass.allCases, label)
            for road in roads {
                XCTAssertEqual(road.implementation == "im2col", declined.contains(road.pass), "\(label): \(road)")
                XCTAssertEqual(road.declined != nil, declined.contains(road.pass), "\(label): \(road)")
            }
        }
    }

    /// Where oneDNN cannot stack a layer (here on purpose: on AVX2 a 1-channel first layer) it
    /// runs alone and the rest as stacks: alone first (the reference discriminator on AVX2),
    /// in the middle, last, or every layer; each split agrees with im2col as the whole stack
    /// does, for both kinds of stack.
    func testLayersOneDNNCannotStackRunAloneAndAgree() {
        defer { OneDNN.setTesting() }
        let stack = ConvolutionStack(convolutions([(1, 16), (16, 32), (32, 16)]), activation: .leakyReLU(slope: 0.2))
        let transposed = TransposedConvolutionStack(transposedConvolutions([(16, 8), (8, 24), (24, 16)]), activation: .relu)
        for alone in [[0], [1], [2], [0, 1, 2]] as [Set<Int>] {
            OneDNN.setTesting(alone: alone)
            ConvolutionEngine.current = .oneDNN(.fp32)
            let x = random.normal([3, 1, 16, 16])
            let parts = stack.plan(x.shape)!.parts
            // With less than AVX-512, oneDNN may split the stack further itself.
            let expected = alone == [1] || alone.count == 3 ? 3 : 2
            if OneDNN.instructionSet.hasPrefix("avx512") {
                XCTAssertEqual(parts.count, expected, "alone \(alone)")
            } else {
                XCTAssertGreaterThanOrEqual(parts.count, expected, "alone \(alone)")
            }
            for part in parts {
                if case .stack(_, let range) = part { XCTAssertTrue(alone.isDisjoint(with: range), "alone \(alone)") }
            }
            compareStack("stack, alone \(alone)", runs(stack), x: x, precision: .fp32)
            compareStack("transposed stack, alone \(alone)", runs(transposed), x: random.normal([3, 16, 4, 4]), precision: .fp32)
        }
    }

    /// A stack records its layers' passes as oneDNN runs them (never a reference implementation),
    /// a single layer its own: the roads of an encoder-like stack with and without the input's
    /// gradient.
    func testRoadsNameEveryPass() {
        defer { OneDNN.setTesting() }
        let stack = ConvolutionStack(convolutions([(1, 16), (16, 32), (32, 16)]), activation: .leakyReLU(slope: 0.2))
        OneDNN.setTesting(alone: [0])
        ConvolutionEngine.current = .oneDNN(.fp32)
        let x = random.normal([2, 1, 16, 16])
        ConvolutionRoads.startRecording()
        let (y, cache) = stack.forward(x)
        _ = stack.backward(random.normal(y.shape), cache: cache, inputGradient: false)
        let roads = ConvolutionRoads.stopRecording()
        XCTAssertEqual(Set(roads.map(\.layer)).count, 3, roads.description)
        XCTAssertEqual(roads.filter { $0.pass == .backwardData }.count, 2, "no input gradient for the first layer: \(roads)")
        XCTAssertTrue(roads.allSatisfy { $0.implementation.hasPrefix("oneDNN ") && !$0.runsReference }, roads.description)
        if OneDNN.instructionSet.hasPrefix("avx512") {  // below, oneDNN may split the rest too
            XCTAssertEqual(roads.filter { $0.layer.hasPrefix("stack ") }.count, 6, roads.description)
        }
        XCTAssertTrue(roads[0].layer.hasPrefix("Conv2D 1->16 5x5/2 on 2x1x16x16"), roads[0].layer)
    }

    func testDescribesItself() {
        XCTAssertTrue(OneDNN.version.hasPrefix("2."), OneDNN.version)
        XCTAssertFalse(OneDNN.instructionSet.isEmpty)
    }
}
