import Layers
import Models
import Tensors
import TestSupport
import XCTest

/// The parts of the GAN recipe for small data: the weight average against one computed by
/// hand, the augmentation's forward against what it promises and its backward against finite
/// differences, and a GAN step with both parts and its own discriminator learning rate.
final class GANRecipeTests: XCTestCase {
    var random = RandomNumbers(seed: 21)

    func tinyGenerator() -> Generator {
        Generator(latentSize: 4, imageSize: 8, widths: [4, 2], kernelSize: 3, random: &random)
    }

    func testWeightAverageIsTheHandComputedAverage() {
        let (source, copy) = (tinyGenerator(), tinyGenerator())
        let average = WeightAverage(of: source, into: copy, decay: 0.9)
        let start = source.parameters.map(\.value.values)
        XCTAssertEqual(copy.parameters.map(\.value.values), start, "starts at the source's weights")
        var history = [start]
        for _ in 0..<3 {
            for parameter in source.parameters { parameter.value = random.normal(parameter.value.shape) }
            // BatchNorm's running statistics move too; the average copies them.
            for buffer in source.namedBuffers { buffer.parameter.value = random.uniform(buffer.parameter.value.shape) }
            history.append(source.parameters.map(\.value.values))
            average.update(step: 1_000 + history.count)  // (without the ramp the step does not matter)
        }
        for (index, parameter) in copy.parameters.enumerated() {
            // 0.9^3 p0 + 0.1 (0.9^2 p1 + 0.9 p2 + p3)
            let expected = history[0][index].indices.map { i -> Float in
                let p = history.map { $0[index][i] }
                return 0.729 * p[0] + 0.1 * (0.81 * p[1] + 0.9 * p[2] + p[3])
            }
            assertClose(parameter.value.values, expected, absolute: 1e-5, copy.namedParameters[index].name)
        }
        XCTAssertEqual(copy.namedBuffers.map(\.parameter.value.values), source.namedBuffers.map(\.parameter.value.values))
    }

    /// With the ramp, update n keeps min(decay, (1 + n) / (10 + n)) of the average: 2/11, 3/12,
    /// 4/13 for the first three, and the decay asked for once the ramp passes it.
    func testWeightAverageRampsUpItsDecay() {
        let (source, copy) = (tinyGenerator(), tinyGenerator())
        let average = WeightAverage(of: source, into: copy, decay: 0.9, rampUp: true)
        XCTAssertEqual(average.decay(atStep: 1), 2 / 11, accuracy: 1e-7)
        XCTAssertEqual(average.decay(atStep: 70), 71 / 80, accuracy: 1e-7)
        XCTAssertEqual(average.decay(atStep: 81), 0.9, "(82/91 is above 0.9)")
        XCTAssertEqual(average.decay(atStep: 100_000), 0.9)
        XCTAssertEqual(WeightAverage(of: source, into: tinyGenerator(), decay: 0.9).decay(atStep: 1), 0.9, "no ramp: the decay from the start")
        var history = [source.parameters.map(\.value.values)]
        for step in 1...3 {
            for parameter in source.parameters { parameter.value = random.normal(parameter.value.shape) }
            history.append(source.parameters.map(\.value.values))
            average.update(step: step)
        }
        let decays: [Float] = [2 / 11, 3 / 12, 4 / 13]
        for (index, parameter) in copy.parameters.enumerated() {
            let expected = history[0][index].indices.map { i -> Float in
                decays.indices.reduce(history[0][index][i]) { a, n in decays[n] * a + (1 - decays[n]) * history[n + 1][index][i] }
            }
            assertClose(parameter.value.values, expected, absolute: 1e-5, copy.namedParameters[index].name)
        }
    }

    func testAugmentationShiftsMasksAndGains() {
        let augmentation = SpectrogramAugmentation(maxShift: 2, maxFrequencyMask: 2, maxTimeMask: 2, maxGain: 0.1)
        let x = random.uniform([1, 1, 4, 6], low: -1, high: 1)
        let draw = SpectrogramAugmentation.Draw(shift: 2, frequencyMask: 1..<2, timeMask: 4..<5, gain: 0.05)
        let y = augmentation.apply(x, draws: [draw])
        for h in 0..<4 {
            for w in 0..<6 {
                let kept = w >= 2 && h != 1 && w != 4
                XCTAssertEqual(y.values[h * 6 + w], (kept ? x.values[h * 6 + w - 2] : -1) + 0.05, accuracy: 1e-6, "(\(h), \(w))")
            }
        }
        // Draws stay within their bounds.
        for d in augmentation.draw(count: 200, bands: 16, frames: 32, random: &random) {
            XCTAssertTrue((-2...2).contains(d.shift) && d.frequencyMask.count <= 2 && d.timeMask.count <= 2, "\(d)")
            XCTAssertTrue(d.frequencyMask.upperBound <= 16 && d.timeMask.upperBound <= 32 && abs(d.gain) <= 0.1, "\(d)")
        }
    }

    func testAugmentationBackwardMatchesFiniteDifferences() {
        let augmentation = SpectrogramAugmentation(bands: 8, frames: 16)
        let x = random.uniform([3, 2, 8, 16], low: -1, high: 1)
        let draws = augmentation.draw(count: 3, bands: 8, frames: 16, random: &random)
        let dy = random.normal(x.shape)
        let dx = augmentation.backward(dy, draws: draws)
        let epsilon: Float = 1e-2
        for i in stride(from: 0, to: x.count, by: 7) {
            var (plus, minus) = (x, x)
            plus.values[i] += epsilon
            minus.values[i] -= epsilon
            let (a, b) = (augmentation.apply(plus, draws: draws), augmentation.apply(minus, draws: draws))
            let numeric = zip(dy.values, zip(a.values, b.values)).reduce(Float(0)) { $0 + $1.0 * ($1.1.0 - $1.1.1) } / (2 * epsilon)
            XCTAssertEqual(dx.values[i], numeric, accuracy: 1e-3 * max(1, abs(numeric)), "element \(i)")
        }
    }

    /// A step with augmentation draws its numbers from the run's generator (a different run
    /// from one without), trains both models, and the discriminator's learning rate is its own.
    func testAGANStepWithTheRecipe() {
        let discriminator = Discriminator(imageSize: 8, widths: [2, 4], kernelSize: 3, random: &random)
        let trainer = GANTrainer(generator: tinyGenerator(), discriminator: discriminator, loss: .hinge, learningRate: 1e-3,
                                 discriminatorLearningRate: 4e-3, augmentation: SpectrogramAugmentation(bands: 8, frames: 8))
        XCTAssertEqual(trainer.discriminatorOptimizer.learningRate, 4e-3)
        XCTAssertEqual(trainer.generatorOptimizer.learningRate, 1e-3)
        let before = (trainer.generator.parameters[0].value.values, discriminator.parameters[0].value.values)
        let losses = trainer.step(real: random.uniform([4, 1, 8, 8], low: -1, high: 1), random: &random)
        XCTAssertTrue(losses.discriminator.isFinite && losses.generator.isFinite)
        XCTAssertNotEqual(trainer.generator.parameters[0].value.values, before.0)
        XCTAssertNotEqual(discriminator.parameters[0].value.values, before.1)
    }
}
