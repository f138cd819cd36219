import FileFormats
import Foundation
import TestSupport
import XCTest

/// `train gan --ema --augment --lr-d`: the weight average is checkpointed and sampled from, a
/// run killed after a checkpoint and resumed ends bit for bit as an uninterrupted one (im2col),
/// and out-of-range values are refused naming their flag.
final class GANRecipeCommandTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
        try writeBarImages(to: folder + "/images", size: 16)
    }

    func train(_ out: String, steps: Int, extra: [String] = []) throws -> CommandResult {
        try runMelforge(["train", "gan", "--images", folder + "/images", "--out", out, "--batch-size", "4", "--widths", "4,8",
                         "--latent-size", "4", "--engine", "im2col", "--seed", "9", "--checkpoint-every", "3", "--steps",
                         String(steps), "--ema", "0.9", "--augment", "--lr-d", "4e-4"] + extra)
    }

    func testResumedWithTheRecipeEqualsAnUninterruptedRun() throws {
        XCTAssertEqual(try train(folder + "/whole", steps: 6).status, 0)
        XCTAssertEqual(try train(folder + "/part", steps: 3).status, 0)
        let resumed = try train(folder + "/part", steps: 6, extra: ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        let (a, b) = (try SafeTensors.read(folder + "/whole/checkpoint.safetensors"),
                      try SafeTensors.read(folder + "/part/checkpoint.safetensors"))
        XCTAssertTrue(a.tensors.contains { $0.name.hasPrefix("generator_ema.") }, "\(a.tensors.map(\.name))")
        XCTAssertEqual(a.tensors.map(\.name), b.tensors.map(\.name))
        for (x, y) in zip(a.tensors, b.tensors) { XCTAssertEqual(x.values.map(\.bitPattern), y.values.map(\.bitPattern), x.name) }
        // The average differs from the generator it follows, and synthesis draws from it.
        let generator = a.tensors.filter { $0.name.hasPrefix("generator.") }.map(\.values)
        let average = a.tensors.filter { $0.name.hasPrefix("generator_ema.") }.map(\.values)
        XCTAssertNotEqual(generator, average)
        // The average's decay ramps up (a short run's samples are not its initial weights).
        XCTAssertTrue(a.metadata["training"]?.contains("\"emaRampUp\":true") == true, a.metadata["training"] ?? "no configuration")
        let pictures = try runMelforge(["synthesize", "--checkpoint", folder + "/whole", "-o", folder + "/pictures", "--count", "2"])
        XCTAssertEqual(pictures.status, 0, pictures.standardError)
    }

    func testOutOfRangeValuesAreRefused() throws {
        for (flags, named) in [(["--ema", "1.5"], "--ema 1.5"), (["--lr-d", "0"], "--lr-d 0.0")] {
            let result = try runMelforge(["train", "gan", "--images", folder + "/images", "--out", folder + "/bad",
                                          "--steps", "1"] + flags)
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.standardError.contains(named), result.standardError)
        }
        let vae = try runMelforge(["train", "vae", "--images", folder + "/images", "--out", folder + "/vae", "--steps", "1", "--augment"])
        XCTAssertNotEqual(vae.status, 0)
        XCTAssertTrue(vae.standardError.contains("are the GAN's"), vae.standardError)
    }
}
