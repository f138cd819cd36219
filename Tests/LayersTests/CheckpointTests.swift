import FileFormats
import Layers
import Tensors
import TestSupport
import XCTest

/// A two-layer model for the tests: conv -> batch norm, named as PyTorch would.
final class TinyModel: Module {
    let conv: Conv2D
    let norm: BatchNorm
    init(random: inout RandomNumbers, channels: Int = 3) {
        conv = Conv2D(inputChannels: 1, outputChannels: channels, kernelSize: 3, padding: 1, random: &random)
        norm = BatchNorm(channels: channels)
    }
    var namedParameters: [(name: String, parameter: Parameter)] {
        prefixed("conv1", conv.namedParameters) + prefixed("bn1", norm.namedParameters)
    }
    var namedBuffers: [(name: String, parameter: Parameter)] { prefixed("bn1", norm.namedBuffers) }
}

final class CheckpointTests: XCTestCase {
    func testRoundTripWithPyTorchNames() throws {
        let folder = try makeTemporaryFolder(self)
        var random = RandomNumbers(seed: 1)
        let model = TinyModel(random: &random)
        model.norm.runningMean.value = random.normal([3])
        try Checkpoint.save([("generator", model)], extra: [NamedTensor(name: "rng", shape: [4], values: [1, 2, 3, 4])],
                            metadata: ["config": "{}"], to: folder + "/ckpt.safetensors")
        let file = try SafeTensors.read(folder + "/ckpt.safetensors")
        XCTAssertEqual(Set(file.tensors.map(\.name)), ["generator.conv1.weight", "generator.conv1.bias", "generator.bn1.weight",
                                                       "generator.bn1.bias", "generator.bn1.running_mean",
                                                       "generator.bn1.running_var", "rng"])
        XCTAssertEqual(file["generator.conv1.weight"]?.shape, [3, 1, 3, 3])  // [out, in, kh, kw]

        var other = RandomNumbers(seed: 2)
        let restored = TinyModel(random: &other)
        try Checkpoint.restore(restored, prefix: "generator", from: file, path: "ckpt")
        for ((_, a), (_, b)) in zip(model.namedParameters + model.namedBuffers, restored.namedParameters + restored.namedBuffers) {
            XCTAssertEqual(a.value, b.value)
        }
    }

    func testMismatchesAreNamedAndChangeNothing() throws {
        var random = RandomNumbers(seed: 1)
        let wide = TinyModel(random: &random, channels: 4)
        let file = SafeTensors(tensors: Checkpoint.tensors(of: wide, prefix: "generator"))
        let narrow = TinyModel(random: &random)
        let before = narrow.conv.weight.value
        XCTAssertThrowsError(try Checkpoint.restore(narrow, prefix: "generator", from: file, path: "w.safetensors")) {
            XCTAssertEqual($0 as? CheckpointError, .shapeMismatch(path: "w.safetensors", name: "generator.conv1.weight",
                                                                  found: [4, 1, 3, 3], expected: [3, 1, 3, 3]))
        }
        XCTAssertEqual(narrow.conv.weight.value, before)
        XCTAssertThrowsError(try Checkpoint.restore(narrow, prefix: "discriminator", from: file, path: "w.safetensors")) {
            XCTAssertTrue("\($0)".contains("no tensor 'discriminator.conv1.weight'"), "\($0)")
        }
    }
}
