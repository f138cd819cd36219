import Foundation
import Layers
import Models
import Tensors
import TestSupport
import XCTest

final class ModelTests: XCTestCase {
    func testReferenceArchitecturesHaveTheReferenceParameterCounts() {
        var random = RandomNumbers(seed: 0)
        // ../shared/bench/bench_train.py: G 1,486,561, D 1,080,577, VAE 2,943,361.
        XCTAssertEqual(Generator(random: &random).parameterCount, 1_486_561)
        XCTAssertEqual(Discriminator(random: &random).parameterCount, 1_080_577)
        XCTAssertEqual(ConvVAE(random: &random).parameterCount, 2_943_361)
    }

    func testShapesFlowThrough() {
        var random = RandomNumbers(seed: 0)
        let generator = Generator(latentSize: 8, imageSize: 16, widths: [8, 4], kernelSize: 3, random: &random)
        let discriminator = Discriminator(imageSize: 16, widths: [4, 8], kernelSize: 3, random: &random)
        let (images, _) = generator.forward(random.normal([3, 8]), training: true)
        XCTAssertEqual(images.shape, [3, 1, 16, 16])
        XCTAssertTrue(images.values.allSatisfy { abs($0) <= 1 })
        XCTAssertEqual(discriminator.forward(images).output.shape, [3, 1])
        let vae = ConvVAE(latentSize: 5, imageSize: 16, widths: [4, 8], kernelSize: 3, random: &random)
        let (mu, logVariance, _) = vae.encode(images)
        XCTAssertEqual(mu.shape, [3, 5])
        XCTAssertEqual(logVariance.shape, [3, 5])
        XCTAssertEqual(vae.decode(mu).output.shape, [3, 1, 16, 16])
    }

    func testMNISTSizedModels() {
        // 28 = 7 * 2^2: the first feature map is 7x7.
        var random = RandomNumbers(seed: 1)
        let generator = Generator(latentSize: 10, imageSize: 28, widths: [16, 8], random: &random)
        let images = generator.forward(random.normal([2, 10]), training: false).output
        XCTAssertEqual(images.shape, [2, 1, 28, 28])
        XCTAssertEqual(Discriminator(imageSize: 28, widths: [8, 16], random: &random).forward(images).output.shape, [2, 1])
        let vae = ConvVAE(latentSize: 3, imageSize: 28, widths: [8, 16], random: &random)
        XCTAssertEqual(vae.decode(vae.encode(images).mean).output.shape, [2, 1, 28, 28])
    }

    /// A small VAE on a fixed batch: its reconstruction error falls. A small GAN's
    /// discriminator learns to tell its data from the generator's early samples.
    func testSmallModelsLearn() {
        var random = RandomNumbers(seed: 4)
        // Structured images (a diagonal wave of one of 8 phases), which a small model can learn.
        let images = Tensor(shape: [8, 1, 16, 16], values: (0..<8 * 256).map { i in
            let (n, y, x) = (i / 256, i / 16 % 16, i % 16)
            return Float(sin(Double(x + y) / 3 + Double(n)))
        })
        let vae = VAETrainer(model: ConvVAE(latentSize: 4, imageSize: 16, widths: [8, 16], kernelSize: 3, random: &random),
                             learningRate: 2e-3, beta1: 0.9)
        let first = vae.step(images: images, random: &random)
        var last = first
        for _ in 0..<60 { last = vae.step(images: images, random: &random) }
        XCTAssertLessThan(last.reconstruction, 0.5 * first.reconstruction, "\(first) -> \(last)")

        let gan = GANTrainer(generator: Generator(latentSize: 8, imageSize: 16, widths: [16, 8], kernelSize: 3, random: &random),
                             discriminator: Discriminator(imageSize: 16, widths: [8, 16], kernelSize: 3, random: &random),
                             learningRate: 1e-3)
        let start = gan.step(real: images, random: &random)
        var end = start
        for _ in 0..<15 { end = gan.step(real: images, random: &random) }
        XCTAssertTrue(end.discriminator.isFinite && end.generator.isFinite)
        XCTAssertLessThan(end.discriminator, start.discriminator, "\(start) -> \(end)")
    }

    func testDiscriminatorInputGradientWithoutWeightGradients() {
        var random = RandomNumbers(seed: 2)
        let discriminator = Discriminator(imageSize: 16, widths: [4, 8], kernelSize: 3, random: &random)
        let images = random.normal([2, 1, 16, 16])
        let (logits, cache) = discriminator.forward(images)
        discriminator.zeroGradients()
        let withWeights = discriminator.backward(Tensor(shape: logits.shape, repeating: 1), cache: cache)
        XCTAssertGreaterThan(discriminator.parameters.reduce(0) { $0 + $1.gradient.squaredNorm }, 0)
        discriminator.zeroGradients()
        let without = discriminator.backward(Tensor(shape: logits.shape, repeating: 1), cache: cache, parameterGradients: false)
        XCTAssertEqual(without, withWeights)
        XCTAssertEqual(discriminator.parameters.reduce(0) { $0 + $1.gradient.squaredNorm }, 0)
    }
}

final class SpectralGANTests: XCTestCase {
    func testHingeGANWithSpectralNormTrainsAndNamesItsTensorsAsPyTorch() {
        var random = RandomNumbers(seed: 8)
        let discriminator = Discriminator(imageSize: 16, widths: [8, 16], kernelSize: 3, spectralNorm: true, random: &random)
        let names = discriminator.namedParameters.map(\.name)
        XCTAssertTrue(names.contains("conv1.weight_orig") && names.contains("classify.weight_orig"), "\(names)")
        XCTAssertFalse(names.contains("conv1.weight"))
        XCTAssertEqual(discriminator.namedBuffers.map(\.name), ["conv1.weight_u", "conv2.weight_u", "classify.weight_u"])
        let gan = GANTrainer(generator: Generator(latentSize: 8, imageSize: 16, widths: [16, 8], kernelSize: 3, random: &random),
                             discriminator: discriminator, loss: .hinge, learningRate: 1e-3)
        let images = random.uniform([8, 1, 16, 16], low: -1, high: 1)
        let before = discriminator.namedParameters[0].parameter.value
        var losses: [(discriminator: Float, generator: Float)] = []
        for _ in 0..<10 { losses.append(gan.step(real: images, random: &random)) }
        XCTAssertTrue(losses.allSatisfy { $0.discriminator.isFinite && $0.generator.isFinite })
        XCTAssertNotEqual(discriminator.namedParameters[0].parameter.value, before, "weight_orig must be trained")
        XCTAssertLessThan(losses.last!.discriminator, losses.first!.discriminator)
    }
}

extension SpectralGANTests {
    /// D(real) and D(fake) both run before either backward, and each training forward moves
    /// the power iteration on: the real batch's gradients must still be those of the real
    /// batch's own forward (its sigma, u, v and weight), as if no other forward had run.
    func testEachBackwardUsesItsOwnForwardsSpectralNormalisation() {
        func discriminator() -> Discriminator {
            var random = RandomNumbers(seed: 31)
            return Discriminator(imageSize: 8, widths: [4, 8], kernelSize: 3, spectralNorm: true, random: &random)
        }
        var random = RandomNumbers(seed: 32)
        let (real, fake) = (random.normal([3, 1, 8, 8]), random.normal([3, 1, 8, 8]))
        let dLogits = random.normal([3, 1])

        let alone = discriminator()
        let (_, aloneCache) = alone.forward(real)
        let aloneInput = alone.backward(dLogits, cache: aloneCache)

        let interleaved = discriminator()
        let (_, realCache) = interleaved.forward(real)
        _ = interleaved.forward(fake)  // moves u, v, sigma and the weights on
        let interleavedInput = interleaved.backward(dLogits, cache: realCache)

        assertClose(interleavedInput.values, aloneInput.values, absolute: 1e-6, relative: 1e-5, "dL/d(real image)")
        for ((name, a), (_, b)) in zip(alone.namedParameters, interleaved.namedParameters) {
            assertClose(b.gradient.values, a.gradient.values, absolute: 1e-6, relative: 1e-5, "dL/d\(name)")
        }
    }
}

final class ConditionalModelTests: XCTestCase {
    func testProjectionDiscriminatorGradients() {
        var random = RandomNumbers(seed: 12)
        let discriminator = Discriminator(imageSize: 8, widths: [3], kernelSize: 3, classes: 4, random: &random)
        // Make the projection term as large as the rest, so that an error in it would show.
        let table = discriminator.namedParameters.first { $0.name == "projection.weight" }!.parameter
        for i in table.value.values.indices { table.value.values[i] *= 100 }
        let labels = [3, 0, 3]
        assertGradients("projection discriminator", input: random.normal([3, 1, 8, 8]),
                        parameters: discriminator.parameters, allowedKinks: 6) { x in
            let (logits, cache) = discriminator.forward(x, labels: labels)
            return (logits, { discriminator.backward($0, cache: cache) })
        }
    }

    func testConditionalGeneratorAndVAEGradientsAndLabelsMatter() {
        var random = RandomNumbers(seed: 13)
        let generator = Generator(latentSize: 4, imageSize: 8, widths: [4], kernelSize: 3, classes: 3, random: &random)
        XCTAssertTrue(generator.namedParameters.contains { $0.name == "label_embedding.weight" })
        let z = random.normal([2, 4])
        let a = generator.forward(z, labels: [0, 0], training: false).output
        let b = generator.forward(z, labels: [2, 1], training: false).output
        XCTAssertNotEqual(a, b, "the label must change the image")
        let vae = ConvVAE(latentSize: 3, imageSize: 8, widths: [4], kernelSize: 3, classes: 3, random: &random)
        let labels = [1, 2]
        assertGradients("conditional VAE decoder", input: random.normal([2, 3]), parameters: vae.parameters.filter {
            $0.name == "weight" && $0.value.rank == 2
        }, allowedKinks: 6) { z in
            let (image, cache) = vae.decode(z, labels: labels)
            return (image, { vae.decoderBackward($0, cache: cache) })
        }
    }
}

final class ClassifierTests: XCTestCase {
    func testClassifierGradientsAndEmbedding() {
        var random = RandomNumbers(seed: 31)
        let classifier = Classifier(imageSize: 8, widths: [3, 4], embeddingSize: 5, classes: 3, kernelSize: 3,
                                    random: &random)
        XCTAssertEqual(classifier.namedParameters.map(\.name),
                       ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "hidden.weight", "hidden.bias",
                        "output.weight", "output.bias"])
        let images = random.normal([2, 1, 8, 8])
        // Every embedding unit active, so that no ReLU kink lies within the differences' step.
        let hiddenBias = classifier.namedParameters.first { $0.name == "hidden.bias" }!.parameter
        for i in hiddenBias.value.values.indices { hiddenBias.value.values[i] += 3 }
        var unused = RandomNumbers(seed: 0)
        let (logits, embedding, _) = classifier.forward(images, training: false, random: &unused)
        XCTAssertEqual(logits.shape, [2, 3])
        XCTAssertEqual(embedding.shape, [2, 5])
        XCTAssertTrue(embedding.values.allSatisfy { $0 >= 0 }, "the embedding is after a ReLU")
        // Batched evaluation gives what one forward does.
        let batched = classifier.evaluate(images, batchSize: 1)
        assertClose(batched.logits.values, logits.values, absolute: 1e-6)
        // A weight of the first layer moves 32 LeakyReLU inputs at once, so a few of its
        // differences straddle a kink (skipped; at most 16 of them).
        assertGradients("classifier", input: images, parameters: classifier.parameters, allowedKinks: 16) { x in
            var unused = RandomNumbers(seed: 0)
            let (logits, _, cache) = classifier.forward(x, training: false, random: &unused)
            return (logits, { classifier.backward($0, cache: cache) })
        }
    }
}
