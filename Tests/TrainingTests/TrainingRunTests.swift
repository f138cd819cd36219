import FileFormats
import Foundation
import Tensors
import TestSupport
import Layers
import Models
import Optimizers
import Training
import XCTest

/// 12 structured 16x16 images.
func images() -> Tensor {
    Tensor(shape: [12, 1, 16, 16], values: (0..<12 * 256).map { i in
        let (n, y, x) = (i / 256, i / 16 % 16, i % 16)
        return Float(sin(Double(x * (n % 3 + 1) + y) / 4 + Double(n)))
    })
}

/// A tiny model's configuration.
func configuration(_ model: TrainingConfiguration.Model) -> TrainingConfiguration {
    var c = TrainingConfiguration(model: model, channels: 1, imageSize: 16, latentSize: 6, widths: [4, 8],
                                  batchSize: 4, learningRate: 1e-3, seed: 21)
    c.kernelSize = 3
    return c
}

final class TrainingRunTests: XCTestCase {
    /// Killed after 3 steps and resumed from the checkpoint, a run continues with the same
    /// losses as the uninterrupted one (float tolerance 1e-5 relative).
    func testResumedRunContinuesTheSameRun() throws {
        let folder = try makeTemporaryFolder(self)
        for model in TrainingConfiguration.Model.allCases {
            let whole = TrainingRun(configuration: configuration(model), data: images())
            let expected = (0..<6).map { _ in whole.trainStep() }

            let first = TrainingRun(configuration: configuration(model), data: images())
            for _ in 0..<3 { _ = first.trainStep() }
            try first.save(to: folder + "/\(model).safetensors", metadata: ["note": "test"])

            let file = try SafeTensors.read(folder + "/\(model).safetensors")
            let resumed = TrainingRun(configuration: try TrainingRun.configuration(of: file, path: "c"), data: images())
            try resumed.restore(from: file, path: "c")
            XCTAssertEqual(resumed.step, 3)
            XCTAssertEqual(file.metadata["note"], "test")
            for i in 3..<6 {
                let losses = resumed.trainStep()
                for (name, value) in expected[i] {
                    XCTAssertEqual(losses[name]!, value, accuracy: 1e-5 * max(1, abs(value)), "\(model) step \(i + 1) \(name)")
                }
            }
        }
    }

    /// A checkpoint whose configuration describes a model far larger than the weights it holds
    /// (damaged, or made to exhaust memory) is refused before any model is built, naming the
    /// sizes; so is one with a size out of range. A sound checkpoint still loads.
    func testAConfigurationLargerThanItsFileIsRefusedBeforeBuilding() throws {
        let folder = try makeTemporaryFolder(self)
        let run = TrainingRun(configuration: configuration(.gan), data: images())
        try run.save(to: folder + "/gan.safetensors")
        XCTAssertNoThrow(try TrainedModel(checkpoint: folder + "/gan.safetensors"))
        for (widths, kernel, expected) in [([40_000, 40_000], 3, "describes at least"), ([4, 8], 100_000, "out of range"),
                                           ([0], 3, "out of range")] {
            var file = try SafeTensors.read(folder + "/gan.safetensors")
            var changed = configuration(.gan)
            (changed.widths, changed.kernelSize) = (widths, kernel)
            file.metadata["training"] = String(decoding: try JSONEncoder().encode(changed), as: UTF8.self)
            try file.write(to: folder + "/crafted.safetensors")
            XCTAssertThrowsError(try TrainedModel(checkpoint: folder + "/crafted.safetensors")) { error in
                XCTAssertTrue("\(error)".contains(expected) && "\(error)".contains("crafted.safetensors"), "\(error)")
            }
        }
    }

    func testSamplesHaveTheImageShapeAndCheckpointsOfOtherModelsAreRefused() throws {
        let run = TrainingRun(configuration: configuration(.gan), data: images())
        XCTAssertEqual(run.samples(count: 5).shape, [5, 1, 16, 16])
        let folder = try makeTemporaryFolder(self)
        try run.save(to: folder + "/gan.safetensors")
        let vae = TrainingRun(configuration: configuration(.vae), data: images())
        XCTAssertThrowsError(try vae.restore(from: try SafeTensors.read(folder + "/gan.safetensors"), path: "gan.safetensors")) {
            XCTAssertTrue("\($0)".contains("gan.safetensors") && "\($0)".contains("vae."), "\($0)")
        }
        XCTAssertThrowsError(try TrainingRun.configuration(of: SafeTensors(tensors: []), path: "x"))
    }
}

final class ConditionalTrainingTests: XCTestCase {
    func testConditionalRunsResumeAndSampleEachClass() throws {
        let folder = try makeTemporaryFolder(self)
        let data = images()
        let labels = (0..<12).map { $0 % 3 }
        for model in TrainingConfiguration.Model.allCases {
            var configuration = configuration(model)
            configuration.classes = ["a", "b", "c"]
            configuration.loss = .hinge
            let whole = TrainingRun(configuration: configuration, data: data, labels: labels)
            let expected = (0..<4).map { _ in whole.trainStep() }
            let first = TrainingRun(configuration: configuration, data: data, labels: labels)
            for _ in 0..<2 { _ = first.trainStep() }
            try first.save(to: folder + "/c.safetensors")
            let file = try SafeTensors.read(folder + "/c.safetensors")
            let saved = try TrainingRun.configuration(of: file, path: "c")
            XCTAssertEqual(saved.classes, ["a", "b", "c"])
            let resumed = TrainingRun(configuration: saved, data: data, labels: labels)
            try resumed.restore(from: file, path: "c")
            for i in 2..<4 {
                for (name, value) in resumed.trainStep() {
                    XCTAssertEqual(value, expected[i][name]!, accuracy: 1e-5 * max(1, abs(value)), "\(model) \(name)")
                }
            }
            XCTAssertEqual(resumed.samples(count: 3, labels: [2, 1, 0]).shape, [3, 1, 16, 16])
        }
    }
}

final class KLWarmupTests: XCTestCase {
    func testKLWeightRisesLinearlyAndOldCheckpointsHaveNone() throws {
        var c = configuration(.vae)
        c.beta = 2
        c.klWarmupSteps = 4
        let run = TrainingRun(configuration: c, data: images())
        XCTAssertEqual((1...6).map(run.klWeight(atStep:)), [0.5, 1, 1.5, 2, 2, 2])
        // The first step's KL barely counts: a step with warm-up and one without differ.
        var plain = c
        plain.klWarmupSteps = nil
        XCTAssertEqual(TrainingRun(configuration: plain, data: images()).klWeight(atStep: 1), 2)
        // A configuration saved before the option existed decodes without it.
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as! [String: Any]
        object["klWarmupSteps"] = nil
        let old = try JSONDecoder().decode(TrainingConfiguration.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(old.klWarmupSteps)
        // Warm-up is part of the run: resumed at step 2, the losses continue as uninterrupted.
        let whole = TrainingRun(configuration: c, data: images())
        let expected = (0..<4).map { _ in whole.trainStep() }
        let first = TrainingRun(configuration: c, data: images())
        for _ in 0..<2 { _ = first.trainStep() }
        let path = try makeTemporaryFolder(self) + "/v.safetensors"
        try first.save(to: path)
        let resumed = TrainingRun(configuration: c, data: images())
        try resumed.restore(from: SafeTensors.read(path), path: path)
        for i in 2..<4 {
            for (name, value) in resumed.trainStep() {
                XCTAssertEqual(value, expected[i][name]!, accuracy: 1e-5 * max(1, abs(value)), name)
            }
        }
    }
}

final class VAEOutputRangeTests: XCTestCase {
    /// The VAE's decoder is linear; what it hands to the vocoder must stay in [-1, 1], the
    /// normalised range (a loud decoder once made synthesize refuse its own samples).
    func testVAEImagesAreClampedToTheUnitRange() throws {
        let run = TrainingRun(configuration: configuration(.vae), data: images())
        let path = try makeTemporaryFolder(self) + "/v.safetensors"
        try run.save(to: path)
        // Make the decoder loud: its last layer's weights and bias times 100.
        let file = try SafeTensors.read(path)
        let last = file.tensors.map(\.name).filter { $0.hasPrefix("vae.decoder.deconv") }.sorted().suffix(2)
        let loud = SafeTensors(tensors: file.tensors.map { tensor in
            last.contains(tensor.name) ? NamedTensor(name: tensor.name, shape: tensor.shape, values: tensor.values.map { 100 * $0 }) : tensor
        }, metadata: file.metadata)
        try loud.write(to: path)
        let model = try TrainedModel(checkpoint: path)
        let drawn = model.images(latents: model.latents(count: 4, seed: 1))
        XCTAssertTrue(drawn.values.allSatisfy { (-1...1).contains($0) })
        XCTAssertTrue(drawn.values.contains { abs($0) == 1 }, "the loud decoder does overshoot, and is clamped")
        let restored = TrainingRun(configuration: configuration(.vae), data: images())
        try restored.restore(from: SafeTensors.read(path), path: path)
        XCTAssertTrue(restored.samples(count: 4).values.allSatisfy { (-1...1).contains($0) })
    }
}

/// The model family is open: a kind registered from outside trains, checkpoints, resumes and
/// loads through the same `TrainingRun` and `TrainedModel` as the GAN and the VAE.
final class ModelRegistryTests: XCTestCase {
    /// The smallest generative model: images = tanh(Dense(z)), trained toward the batch mean.
    final class LinearModel: GenerativeModel {
        static let kind = TrainingConfiguration.Model(rawValue: "linear-test")
        static let defaultLatentSize = 3
        let configuration: TrainingConfiguration
        let layer: Dense
        let optimizer: Adam

        init(configuration: TrainingConfiguration, random: inout RandomNumbers) {
            self.configuration = configuration
            let pixels = configuration.channels * configuration.imageSize * configuration.imageSize
            layer = Dense(inputs: configuration.latentSize, outputs: pixels, random: &random)
            optimizer = Adam(parameters: layer.parameters, learningRate: configuration.learningRate)
        }

        func trainStep(batch: Tensor, labels: [Int]?, share: BatchShare, step: Int, random: inout RandomNumbers) -> [String: Float] {
            layer.zeroGradients()
            let (y, cache) = layer.forward(share.rows(of: random.normal([share.total, configuration.latentSize])))
            let error = Loss.squaredError(y.reshaped(batch.shape), batch)
            _ = layer.backward(error.gradient.reshaped(y.shape).scaled(by: share.weight), cache: cache)
            Replicas.sumGradients(layer.parameters)
            optimizer.update()
            return ["error": Float(Replicas.sum([Double(error.value * share.weight)])[0])]
        }

        func images(latents: Tensor, labels: [Int]?) -> Tensor {
            let s = configuration.imageSize
            return layer.forward(latents).output.reshaped([latents.shape[0], configuration.channels, s, s])
        }

        var modules: [(prefix: String, module: Module)] { [("linear", layer)] }
        var optimizers: [(prefix: String, adam: Adam, module: Module)] { [("optimizer.linear", optimizer, layer)] }
        var samplingModules: [(prefix: String, module: Module)] { modules }
    }

    func testARegisteredModelTrainsResumesAndLoads() throws {
        ModelRegistry.register(LinearModel.self)
        XCTAssertTrue(TrainingConfiguration.Model.allCases.contains(LinearModel.kind))
        var c = configuration(.gan)
        c.model = LinearModel.kind
        c.latentSize = 3
        let whole = TrainingRun(configuration: c, data: images())
        let expected = (0..<4).map { _ in whole.trainStep()["error"]! }
        XCTAssertLessThan(expected.last!, expected.first!)

        let folder = try makeTemporaryFolder(self)
        let first = TrainingRun(configuration: c, data: images())
        for _ in 0..<2 { _ = first.trainStep() }
        try first.save(to: folder + "/linear.safetensors")
        let file = try SafeTensors.read(folder + "/linear.safetensors")
        let resumed = TrainingRun(configuration: try TrainingRun.configuration(of: file, path: "l"), data: images())
        try resumed.restore(from: file, path: "l")
        for i in 2..<4 { XCTAssertEqual(resumed.trainStep()["error"]!, expected[i], accuracy: 1e-5 * max(1, expected[i])) }

        let loaded = try TrainedModel(checkpoint: folder + "/linear.safetensors")
        XCTAssertFalse(loaded.canEncode)
        let z = loaded.latents(count: 2, seed: 4)
        XCTAssertEqual(loaded.images(latents: z).values, first.model.images(latents: z, labels: nil).values)
    }

    /// A checkpoint of a kind nobody registered is refused, naming the kinds there are.
    func testUnknownKindIsRefused() throws {
        var c = configuration(.vae)
        c.model = TrainingConfiguration.Model(rawValue: "diffusion")
        let file = SafeTensors(tensors: [], metadata: ["training": String(decoding: try JSONEncoder().encode(c), as: UTF8.self)])
        XCTAssertThrowsError(try TrainingRun.configuration(of: file, path: "d.safetensors")) {
            XCTAssertTrue("\($0)".contains("d.safetensors") && "\($0)".contains("'diffusion'") && "\($0)".contains("gan, "), "\($0)")
        }
    }
}
