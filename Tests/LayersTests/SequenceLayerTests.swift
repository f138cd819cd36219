import Layers
import Tensors
import TestSupport
import XCTest

/// The sequence layers (`[N, T, C]`): gradients against finite differences, and each forward
/// against the formula it states, computed the slow way.
final class SequenceLayerTests: XCTestCase {
    var random = RandomNumbers(seed: 7)

    func testConv1DGradients() {
        for kernel in [1, 3, 7] {
            let layer = Conv1D(inputChannels: 3, outputChannels: 4, kernelSize: kernel, random: &random)
            let x = random.normal([2, 5, 3])
            assertGradients("Conv1D k\(kernel)", input: x, parameters: layer.parameters) { x in
                let (y, cache) = layer.forward(x)
                return (y, { layer.backward($0, cache: cache) })
            }
        }
    }

    func testConv1DForwardIsTheStatedSum() {
        let layer = Conv1D(inputChannels: 2, outputChannels: 3, kernelSize: 3, random: &random)
        let x = random.normal([2, 4, 2])
        let y = layer.forward(x).output
        let (w, b) = (layer.weight.value.values, layer.bias!.value.values)
        var expected = [Float]()
        for n in 0..<2 { for t in 0..<4 { for o in 0..<3 {
            var sum = b[o]
            for c in 0..<2 { for k in 0..<3 where (0..<4).contains(t + k - 1) {
                sum += w[(o * 2 + c) * 3 + k] * x.values[(n * 4 + t + k - 1) * 2 + c]
            } }
            expected.append(sum)
        } } }
        assertClose(y.values, expected, absolute: 1e-5)
    }

    /// Stride and explicit padding (the waveform discriminators' layers): the stated sum, and
    /// gradients against finite differences, with and without the parameters' gradients.
    func testStridedConv1DForwardAndGradients() {
        for (kernel, stride, padding, steps) in [(5, 3, 2, 11), (4, 2, 0, 9), (3, 1, 0, 6)] {
            let layer = Conv1D(inputChannels: 2, outputChannels: 3, kernelSize: kernel, stride: stride, padding: padding, random: &random)
            let x = random.normal([2, steps, 2])
            let y = layer.forward(x).output
            let outSteps = (steps + 2 * padding - kernel) / stride + 1
            XCTAssertEqual(y.shape, [2, outSteps, 3])
            let (w, b) = (layer.weight.value.values, layer.bias!.value.values)
            var expected = [Float]()
            for n in 0..<2 { for t in 0..<outSteps { for o in 0..<3 {
                var sum = b[o]
                for c in 0..<2 { for k in 0..<kernel where (0..<steps).contains(t * stride + k - padding) {
                    sum += w[(o * 2 + c) * kernel + k] * x.values[(n * steps + t * stride + k - padding) * 2 + c]
                } }
                expected.append(sum)
            } } }
            assertClose(y.values, expected, absolute: 1e-5)
            assertGradients("Conv1D k\(kernel)/\(stride) p\(padding)", input: x, parameters: layer.parameters) { x in
                let (y, cache) = layer.forward(x)
                return (y, { layer.backward($0, cache: cache) })
            }
            // Without parameter gradients: the same dx, nothing accumulated.
            layer.zeroGradients()
            let (out, cache) = layer.forward(x)
            let dy = random.normal(out.shape)
            let dx = layer.backward(dy, cache: cache, parameterGradients: false)
            XCTAssertTrue(layer.weight.gradient.values.allSatisfy { $0 == 0 })
            assertClose(dx.values, layer.backward(dy, cache: cache).values, absolute: 0)
        }
    }

    func testDepthwiseConv1DGradientsAndForward() {
        let layer = DepthwiseConv1D(channels: 4, kernelSize: 5, random: &random)
        let x = random.normal([3, 6, 4])
        assertGradients("DepthwiseConv1D", input: x, parameters: layer.parameters) { x in
            let (y, cache) = layer.forward(x)
            return (y, { layer.backward($0, cache: cache) })
        }
        let y = layer.forward(x).output
        let (w, b) = (layer.weight.value.values, layer.bias!.value.values)
        var expected = [Float]()
        for n in 0..<3 { for t in 0..<6 { for c in 0..<4 {
            var sum = b[c]
            for k in 0..<5 where (0..<6).contains(t + k - 2) { sum += w[c * 5 + k] * x.values[(n * 6 + t + k - 2) * 4 + c] }
            expected.append(sum)
        } } }
        assertClose(y.values, expected, absolute: 1e-5)
    }

    func testLayerNormGradientsAndRowStatistics() {
        let layer = LayerNorm(channels: 6)
        layer.weight.value = random.uniform([6], low: 0.5, high: 1.5)
        layer.bias.value = random.normal([6])
        let x = random.normal([2, 3, 6], mean: 1, deviation: 2)
        assertGradients("LayerNorm", input: x, parameters: layer.parameters) { x in
            let (y, cache) = layer.forward(x)
            return (y, { layer.backward($0, cache: cache) })
        }
        // With gamma 1 and beta 0 every row has mean 0 and variance 1 (up to epsilon).
        let plain = LayerNorm(channels: 6)
        let y = plain.forward(x).output.values
        for row in 0..<6 {
            let values = y[(row * 6)..<(row * 6 + 6)]
            let mean = values.reduce(0, +) / 6
            XCTAssertEqual(mean, 0, accuracy: 1e-5)
            XCTAssertEqual(values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 6, 1, accuracy: 1e-4)
        }
    }

    func testGELUGradientAndKnownValues() {
        let x = random.normal([4, 5], deviation: 2)
        assertGradients("GELU", input: x, parameters: []) { x in
            let (y, cache) = Activation.gelu(x)
            return (y, { Activation.geluBackward($0, cache: cache) })
        }
        // torch.nn.functional.gelu(torch.tensor([-1., 0., 1., 2.])) (exact, not the tanh form).
        let y = Activation.gelu(Tensor(shape: [4], values: [-1, 0, 1, 2])).output.values
        assertClose(y, [-0.158_655_3, 0, 0.841_344_7, 1.954_499_7], absolute: 1e-6)
    }

    func testDenseSharesManyRowsAmongWorkersWithTheSameResult() {
        // 300 rows take the row-parallel path; each row's result must equal a one-row product.
        let layer = Dense(inputs: 9, outputs: 5, random: &random)
        let x = random.normal([300, 9])
        let (y, cache) = layer.forward(x)
        for row in [0, 149, 150, 299] {
            let single = layer.forward(Tensor(shape: [1, 9], values: Array(x.values[(row * 9)..<(row * 9 + 9)]))).output
            assertClose(Array(y.values[(row * 5)..<(row * 5 + 5)]), single.values, absolute: 1e-5)
        }
        let dy = random.normal([300, 5])
        layer.zeroGradients()
        _ = layer.backward(dy, cache: cache)
        var expected = [Float](repeating: 0, count: 45)
        for n in 0..<300 { for o in 0..<5 { for i in 0..<9 { expected[o * 9 + i] += dy.values[n * 5 + o] * x.values[n * 9 + i] } } }
        assertClose(layer.weight.gradient.values, expected, absolute: 1e-3, relative: 1e-4)
    }
}
