import Layers
import Tensors
import TestSupport
import XCTest

/// Every layer's backward against central finite differences (see `assertGradients`).
final class LayerGradientTests: XCTestCase {
    var random = RandomNumbers(seed: 42)

    func testDense() {
        let layer = Dense(inputs: 5, outputs: 3, random: &random)
        let x = random.normal([4, 5])
        assertGradients("Dense", input: x, parameters: layer.parameters) { x in
            let (y, cache) = layer.forward(x)
            return (y, { layer.backward($0, cache: cache) })
        }
    }

    func testConv2DWithStrideAndPadding() {
        for (stride, padding, kernel) in [(1, 0, 3), (2, 2, 5), (2, 1, 3)] {
            let layer = Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: kernel, stride: stride, padding: padding,
                               random: &random)
            let x = random.normal([2, 2, 7, 6])
            assertGradients("Conv2D k\(kernel) s\(stride) p\(padding)", input: x, parameters: layer.parameters) { x in
                let (y, cache) = layer.forward(x)
                return (y, { layer.backward($0, cache: cache) })
            }
        }
    }

    func testConvTranspose2D() {
        for (stride, padding, outputPadding, kernel) in [(1, 0, 0, 3), (2, 2, 1, 5), (2, 1, 0, 4)] {
            let layer = ConvTranspose2D(inputChannels: 3, outputChannels: 2, kernelSize: kernel, stride: stride,
                                        padding: padding, outputPadding: outputPadding, random: &random)
            let x = random.normal([2, 3, 4, 3])
            assertGradients("ConvTranspose2D k\(kernel) s\(stride) p\(padding) op\(outputPadding)", input: x,
                            parameters: layer.parameters) { x in
                let (y, cache) = layer.forward(x)
                return (y, { layer.backward($0, cache: cache) })
            }
        }
    }

    func testConvTransposeOutputShapesDoubleTheImage() {
        // DCGAN's generator: k 5, stride 2, padding 2, output padding 1 doubles H and W.
        let layer = ConvTranspose2D(inputChannels: 4, outputChannels: 2, kernelSize: 5, stride: 2, padding: 2,
                                    outputPadding: 1, random: &random)
        XCTAssertEqual(layer.forward(Tensor.zeros([3, 4, 8, 8])).output.shape, [3, 2, 16, 16])
        let conv = Conv2D(inputChannels: 2, outputChannels: 4, kernelSize: 5, stride: 2, padding: 2, random: &random)
        XCTAssertEqual(conv.forward(Tensor.zeros([3, 2, 16, 16])).output.shape, [3, 4, 8, 8])
    }

    func testBatchNormInTraining() {
        let layer = BatchNorm(channels: 3)
        layer.weight.value = random.uniform([3], low: 0.5, high: 1.5)
        layer.bias.value = random.normal([3])
        let x = random.normal([4, 3, 2, 2], mean: 1, deviation: 2)
        assertGradients("BatchNorm", input: x, parameters: layer.parameters) { x in
            let (y, cache) = layer.forward(x, training: true)
            return (y, { layer.backward($0, cache: cache) })
        }
    }

    /// BatchNorm with a fused rectifier is BatchNorm then that rectifier (each checked against
    /// finite differences), forward exactly and backward to rounding (the backward's sums see
    /// the same terms). Large enough for the workers to share the channels.
    func testBatchNormWithAFusedRectifier() {
        let layer = BatchNorm(channels: 8)
        layer.weight.value = random.uniform([8], low: 0.5, high: 1.5)
        layer.bias.value = random.normal([8])
        let x = random.normal([16, 8, 16, 16], mean: 1, deviation: 2)
        for (activation, slope) in [(FusedActivation.relu, Float(0)), (.leakyReLU(slope: 0.2), 0.2)] {
            layer.zeroGradients()
            let (normalized, plainCache) = layer.forward(x, training: true)
            let (rectified, rectifierCache) = Activation.leakyReLU(normalized, slope: slope)
            let dy = random.normal(x.shape)
            let dx = layer.backward(Activation.leakyReLUBackward(dy, cache: rectifierCache, slope: slope), cache: plainCache)
            let gradients = layer.weight.gradient.values + layer.bias.gradient.values
            layer.zeroGradients()
            let (fused, fusedCache) = layer.forward(x, training: true, activation: activation)
            XCTAssertEqual(fused.values, rectified.values, "\(activation)")
            assertClose(layer.backward(dy, cache: fusedCache).values, dx.values, absolute: 1e-5, "\(activation) dx")
            assertClose(layer.weight.gradient.values + layer.bias.gradient.values, gradients, absolute: 1e-3,
                        "\(activation) d gamma, d beta")
        }
    }

    func testActivations() {
        // Inputs kept away from ReLU's kink at 0, where the derivative is not defined.
        var x = random.normal([3, 7])
        for i in x.values.indices where abs(x.values[i]) < 0.05 { x.values[i] += 0.1 }
        assertGradients("ReLU", input: x, parameters: []) { x in
            let (y, cache) = Activation.relu(x)
            return (y, { Activation.reluBackward($0, cache: cache) })
        }
        assertGradients("LeakyReLU", input: x, parameters: []) { x in
            let (y, cache) = Activation.leakyReLU(x)
            return (y, { Activation.leakyReLUBackward($0, cache: cache) })
        }
        assertGradients("Tanh", input: x, parameters: []) { x in
            let (y, cache) = Activation.tanh(x)
            return (y, { Activation.tanhBackward($0, cache: cache) })
        }
        assertGradients("Sigmoid", input: x, parameters: []) { x in
            let (y, cache) = Activation.sigmoid(x)
            return (y, { Activation.sigmoidBackward($0, cache: cache) })
        }
    }

    func testLossGradients() {
        let x = random.normal([4, 3])
        let targets = random.uniform([4, 3])
        // A loss is a layer whose output is one number: check it with r = the upstream 1.
        func check(_ label: String, _ loss: @escaping (Tensor) -> (value: Float, gradient: Tensor)) {
            assertGradients(label, input: x, parameters: []) { x in
                let (value, gradient) = loss(x)
                return (Tensor(shape: [1], values: [value]), { upstream in
                    Tensor(shape: gradient.shape, values: gradient.values.map { $0 * upstream.values[0] })
                })
            }
        }
        check("BCE with logits") { Loss.binaryCrossEntropyWithLogits($0, targets: targets) }
        check("squared error") { Loss.squaredError($0, targets) }
        check("mean squared error") { Loss.meanSquaredError($0, targets) }
        check("mean absolute error") { Loss.meanAbsoluteError($0, targets) }
        check("hinge generator") { Loss.hingeGenerator(fake: $0) }
        check("softmax cross-entropy") { Loss.softmaxCrossEntropy($0, labels: [2, 0, 1, 2]) }
        let logVariance = random.normal([4, 3], deviation: 0.5)
        check("KL in mu") { let kl = Loss.gaussianKL(mean: $0, logVariance: logVariance); return (kl.value, kl.dMean) }
        check("KL in logvar") { let kl = Loss.gaussianKL(mean: x, logVariance: $0); return (kl.value, kl.dLogVariance) }
    }

    func testSoftmaxCrossEntropyValueAndLargeLogits() {
        // Row (0, ln 3): softmax (1/4, 3/4); label 1 costs ln(4/3), label 0 costs ln 4.
        let logits = Tensor(shape: [2, 2], values: [0, log(3), 0, log(3)])
        let (value, gradient) = Loss.softmaxCrossEntropy(logits, labels: [1, 0])
        XCTAssertEqual(value, (log(4.0 / 3) + log(4)) / 2, accuracy: 1e-6)
        assertClose(gradient.values, [0.125, -0.125, -0.375, 0.375], absolute: 1e-6)
        // Logits far beyond exp's range: finite, and the loss is the margin.
        let huge = Loss.softmaxCrossEntropy(Tensor(shape: [1, 3], values: [1000, -1000, 900]), labels: [2])
        XCTAssertEqual(huge.value, 100, accuracy: 1e-3)
        XCTAssertTrue(huge.gradient.values.allSatisfy(\.isFinite))
        assertClose(Loss.softmax(Tensor(shape: [1, 3], values: [1000, 1000, -1000])).values, [0.5, 0.5, 0], absolute: 1e-7)
    }

    func testReparameterization() {
        let mu = random.normal([2, 4]), eps = random.normal([2, 4])
        let logVariance = random.normal([2, 4], deviation: 0.5)
        assertGradients("reparameterisation (mu)", input: mu, parameters: []) { mu in
            (Reparameterization.sample(mean: mu, logVariance: logVariance, noise: eps),
             { Reparameterization.backward($0, logVariance: logVariance, noise: eps).dMean })
        }
        assertGradients("reparameterisation (logvar)", input: logVariance, parameters: []) { lv in
            (Reparameterization.sample(mean: mu, logVariance: lv, noise: eps),
             { Reparameterization.backward($0, logVariance: lv, noise: eps).dLogVariance })
        }
    }
}

final class MoreLayerTests: XCTestCase {
    var random = RandomNumbers(seed: 77)

    func testDropoutScalesKeepsAndPassesGradientThroughTheMask() {
        let dropout = Dropout(rate: 0.25)
        let x = random.normal([200, 50])
        let (y, mask) = dropout.forward(x, training: true, random: &random)
        let kept = mask!.values.filter { $0 != 0 }
        XCTAssertEqual(Float(kept.count) / Float(x.count), 0.75, accuracy: 0.02)
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-6 })
        XCTAssertEqual(dropout.backward(Tensor(shape: x.shape, repeating: 1), cache: mask).values, mask!.values)
        XCTAssertEqual(y.values[0], x.values[0] * mask!.values[0])
        XCTAssertEqual(dropout.forward(x, training: false, random: &random).output, x)
    }

    func testEmbeddingGradient() {
        let embedding = Embedding(classes: 5, dimension: 3, random: &random)
        let labels = [4, 0, 4, 2]
        let (y, cache) = embedding.forward(labels)
        XCTAssertEqual(Array(y.values[0..<3]), Array(embedding.table.value.values[12..<15]))
        embedding.zeroGradients()
        embedding.backward(Tensor(shape: y.shape, repeating: 1), cache: cache)
        XCTAssertEqual(Array(embedding.table.gradient.values[12..<15]), [2, 2, 2])  // label 4 twice
        XCTAssertEqual(Array(embedding.table.gradient.values[3..<6]), [0, 0, 0])    // label 1 never
    }

    func testSpectralNormMakesTheLargestSingularValueOneAndHasTheRightGradient() {
        let layer = Dense(inputs: 6, outputs: 4, bias: false, random: &random)
        let norm = SpectralNorm(layer.weight, random: &random)
        for _ in 0..<30 { norm.apply(training: true) }
        // The largest singular value of W / sigma, by power iteration on (W/sigma)^T (W/sigma).
        let w = layer.weight.value.values
        var v = [Float](repeating: 1, count: 6)
        for _ in 0..<200 {
            var wv = [Float](repeating: 0, count: 4)
            for r in 0..<4 { for c in 0..<6 { wv[r] += w[r * 6 + c] * v[c] } }
            var next = [Float](repeating: 0, count: 6)
            for r in 0..<4 { for c in 0..<6 { next[c] += w[r * 6 + c] * wv[r] } }
            let n = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = next.map { $0 / n }
        }
        var wv = [Float](repeating: 0, count: 4)
        for r in 0..<4 { for c in 0..<6 { wv[r] += w[r * 6 + c] * v[c] } }
        XCTAssertEqual(wv.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1, accuracy: 1e-3)

        // With u and v fixed (no power iteration), W -> Dense(x; W / sigma(W)) against finite differences.
        let x = random.normal([3, 6])
        assertGradients("spectral norm", input: x, parameters: [norm.original]) { x in
            let state = norm.apply(training: false)
            let (y, cache) = layer.forward(x)
            return (y, { dy in
                let dx = layer.backward(dy, cache: cache)
                norm.backward(state)
                return dx
            })
        }
    }
}
