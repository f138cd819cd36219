import Layers
import Optimizers
import Tensors
import TestSupport
import XCTest

final class OptimizerTests: XCTestCase {
    /// One Adam step from zero moments, in closed form: m = (1 - b1) g, v = (1 - b2) g^2, and
    /// after bias correction p1 = p0 - lr g / (|g| + eps).
    func testAdamFirstStepInClosedForm() {
        let parameter = Parameter("w", Tensor(shape: [4], values: [1, -2, 0.5, 3]))
        parameter.gradient = Tensor(shape: [4], values: [0.1, -0.4, 0, 2])
        let adam = Adam(parameters: [parameter], learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        adam.update()
        let expected: [Float] = zip([1, -2, 0.5, 3], [0.1, -0.4, 0, 2]).map { p, g in p - 0.01 * g / (abs(g) + 1e-8) }
        assertClose(parameter.value.values, expected, absolute: 1e-6)
        XCTAssertEqual(adam.step, 1)

        // Second step, by the formulas written out.
        parameter.gradient = Tensor(shape: [4], values: [0.2, 0.2, 0.2, 0.2])
        adam.update()
        let g1: [Float] = [0.1, -0.4, 0, 2], g2: Float = 0.2
        let second: [Float] = (0..<4).map { i in
            let m = 0.9 * 0.1 * g1[i] + 0.1 * g2, v = 0.999 * 0.001 * g1[i] * g1[i] + 0.001 * g2 * g2
            let mHat = m / (1 - 0.81), vHat = v / (1 - 0.998001)
            return expected[i] - 0.01 * mHat / (vHat.squareRoot() + 1e-8)
        }
        assertClose(parameter.value.values, second, absolute: 1e-5)
    }

    /// A parameter large enough for the workers to share it, beside a small one, with weight
    /// decay: three steps equal Adam written out one element at a time.
    func testAdamOnALargeParameterIsAdamElementByElement() {
        var random = RandomNumbers(seed: 5)
        let parameters = [Parameter("large", random.normal([70_001])), Parameter("small", random.normal([3]))]
        let adam = Adam(parameters: parameters, learningRate: 0.01, beta1: 0.5, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1)
        var expected = parameters.map(\.value.values)
        var (m, v) = (expected.map { $0.map { _ in Float(0) } }, expected.map { $0.map { _ in Float(0) } })
        for step in 1...3 {
            for parameter in parameters { parameter.gradient = random.normal(parameter.value.shape) }
            adam.update()
            let (c1, c2) = (1 - pow(Float(0.5), Float(step)), 1 - pow(Float(0.999), Float(step)))
            for (index, parameter) in parameters.enumerated() {
                for i in expected[index].indices {
                    let g = parameter.gradient.values[i]
                    m[index][i] = 0.5 * m[index][i] + 0.5 * g
                    v[index][i] = 0.999 * v[index][i] + 0.001 * g * g
                    expected[index][i] -= 0.01 * (m[index][i] / c1) / ((v[index][i] / c2).squareRoot() + 1e-8)
                    expected[index][i] -= 0.01 * 0.1 * expected[index][i]
                }
                assertClose(parameter.value.values, expected[index], absolute: 1e-5, "\(parameter.name) step \(step)")
            }
        }
    }

    func testAdamStateRoundTripsAndIsChecked() throws {
        let parameter = Parameter("w", Tensor(shape: [2], values: [1, 2]))
        parameter.gradient = Tensor(shape: [2], values: [0.5, -0.5])
        let adam = Adam(parameters: [parameter])
        adam.update()
        let state = adam.state(names: ["w"])
        let fresh = Adam(parameters: [parameter])
        try fresh.restore(Dictionary(uniqueKeysWithValues: state.map { ($0.name, $0) }), names: ["w"])
        XCTAssertEqual(fresh.state(names: ["w"]), state)
        XCTAssertThrowsError(try fresh.restore([:], names: ["w"]))
    }

    func testSGD() {
        let parameter = Parameter("w", Tensor(shape: [1], values: [1]))
        parameter.gradient = Tensor(shape: [1], values: [2])
        let sgd = SGD(parameters: [parameter], learningRate: 0.1, momentum: 0.9)
        sgd.update()
        sgd.update()  // v = 2, then 0.9 * 2 + 2 = 3.8
        XCTAssertEqual(parameter.value.values[0], 1 - 0.1 * 2 - 0.1 * 3.8, accuracy: 1e-6)
    }

    /// A fixed-seed tiny convolutional model learns a fixed mapping: its loss falls.
    func testTinyModelLossFalls() {
        var random = RandomNumbers(seed: 3)
        let conv1 = Conv2D(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, random: &random)
        let norm = BatchNorm(channels: 4)
        let conv2 = Conv2D(inputChannels: 4, outputChannels: 1, kernelSize: 3, padding: 1, random: &random)
        let parameters = conv1.parameters + norm.parameters + conv2.parameters
        let adam = Adam(parameters: parameters, learningRate: 1e-2, beta1: 0.9)
        let x = random.normal([8, 1, 6, 6])
        // Target: a blurred, shifted copy of the input.
        let target = Tensor(shape: x.shape, values: x.values.indices.map { i in
            0.5 * x.values[i] + 0.5 * x.values[(i + 1) % x.count]
        })
        var losses: [Float] = []
        for _ in 0..<60 {
            let (h1, c1) = conv1.forward(x)
            let (h2, c2) = norm.forward(h1, training: true)
            let (h3, c3) = Activation.leakyReLU(h2)
            let (y, c4) = conv2.forward(h3)
            let (loss, dy) = Loss.meanSquaredError(y, target)
            losses.append(loss)
            for parameter in parameters { parameter.gradient.zero() }
            let d3 = conv2.backward(dy, cache: c4)
            let d2 = Activation.leakyReLUBackward(d3, cache: c3)
            let d1 = norm.backward(d2, cache: c2)
            _ = conv1.backward(d1, cache: c1)
            adam.update()
        }
        XCTAssertLessThan(losses.last!, 0.3 * losses.first!, "losses: \(losses.first!) -> \(losses.last!)")
    }
}
