import Layers
import Models
import Tensors
import TestSupport
import XCTest

final class ConvNeXt1DTests: XCTestCase {
    func testGradientsOfTheWholeStack() {
        var random = RandomNumbers(seed: 3)
        var shape = ConvNeXt1D.Shape(inputs: 3, width: 4, hiddenWidth: 8, blocks: 2, outputs: 5)
        shape.kernelSize = 3
        let model = ConvNeXt1D(shape, random: &random)
        // Layer scale away from its small start, so that the blocks' gradients are not tiny.
        for (name, parameter) in model.namedParameters where name.hasSuffix("gamma") {
            parameter.value = random.uniform(parameter.value.shape, low: 0.5, high: 1)
        }
        let x = random.normal([2, 6, 3])
        assertGradients("ConvNeXt1D", input: x, parameters: model.parameters, limit: 30) { x in
            let (y, cache) = model.forward(x)
            return (y, { model.backward($0, cache: cache) })
        }
        XCTAssertEqual(model.forward(x).output.shape, [2, 6, 5])
    }

    func testEachStepSeesOnlyItsNeighbourhood() {
        // Kernel 3, two blocks: the embedding and each block widen the view by one step a side,
        // so step 0's output cannot depend on step 4 and beyond.
        var random = RandomNumbers(seed: 4)
        var shape = ConvNeXt1D.Shape(inputs: 2, width: 4, hiddenWidth: 8, blocks: 2, outputs: 3)
        shape.kernelSize = 3
        let model = ConvNeXt1D(shape, random: &random)
        var x = random.normal([1, 8, 2])
        let before = model.forward(x).output.values
        for i in 8..<16 { x.values[i] += 1 }  // steps 4...7
        let after = model.forward(x).output.values
        XCTAssertEqual(Array(before[0..<3]), Array(after[0..<3]))
        XCTAssertNotEqual(Array(before[9..<12]), Array(after[9..<12]))
    }
}
