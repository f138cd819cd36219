import AudioIO
import FileFormats
import Foundation
import TestSupport
import XCTest

/// `melforge train` end to end on tiny data and tiny models.
final class TrainCommandTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
        try writeBarImages(to: folder + "/train-images-idx3-ubyte")
    }

    private func train(_ extra: [String], out: String) throws -> CommandResult {
        try runMelforge(["train", "vae", "--images", folder + "/train-images-idx3-ubyte", "--out", out, "--batch-size", "4",
                         "--widths", "4,8", "--latent-size", "4", "--lr", "1e-3", "--log-every", "1",
                         "--checkpoint-every", "3", "--seed", "5"] + extra)
    }

    private func losses(_ out: String) throws -> [[String: Double]] {
        try String(contentsOfFile: out + "/log.jsonl", encoding: .utf8).split(separator: "\n").map {
            var entry = try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Double]
            entry["samples_per_s"] = nil
            return entry
        }
    }

    /// A run killed after its step-3 checkpoint and resumed gives the uninterrupted run's losses.
    /// In a log (not a terminal) the progress line comes once per tenth of the run, losses
    /// and all, not once per step.
    func testProgressInALogIsOneLinePerTenth() throws {
        let run = try train(["--steps", "40"], out: folder + "/log")
        XCTAssertEqual(run.status, 0, run.standardError)
        let lines = run.standardError.split(separator: "\n").filter { $0.hasPrefix("train vae ") }
        XCTAssertTrue((10...11).contains(lines.count), run.standardError)
        XCTAssertTrue(lines.last!.hasPrefix("train vae 40/40 100%"), String(lines.last!))
    }

    func testResumeContinuesTheSameRun() throws {
        let whole = try train(["--steps", "6"], out: folder + "/whole")
        XCTAssertEqual(whole.status, 0, whole.standardError)
        let part = try train(["--steps", "3"], out: folder + "/part")
        XCTAssertEqual(part.status, 0, part.standardError)
        let again = try train(["--steps", "3"], out: folder + "/part")
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.standardError.contains("pass --resume"), again.standardError)
        let resumed = try train(["--steps", "6", "--resume"], out: folder + "/part")
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        XCTAssertTrue(resumed.standardOutput.contains("resuming"), resumed.standardOutput)

        let (expected, actual) = (try losses(folder + "/whole"), try losses(folder + "/part"))
        XCTAssertEqual(expected.count, 6)
        XCTAssertEqual(actual.count, 6)
        for (a, e) in zip(actual, expected) {
            XCTAssertEqual(a["step"], e["step"])
            for key in ["reconstruction", "kl"] {
                XCTAssertEqual(a[key]!, e[key]!, accuracy: 1e-5 * max(1, abs(e[key]!)), "step \(e["step"]!) \(key)")
            }
        }
        for name in ["checkpoint.safetensors", "log.jsonl", "samples.png", "losses.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/part/" + name), name)
        }
        XCTAssertEqual(try PNG.read(folder + "/part/samples.png", as: .rgb).width, 4 * 84 + 5 * 2)  // 28 px x 3
        XCTAssertTrue(try String(contentsOfFile: folder + "/part/losses.svg", encoding: .utf8).contains("<polyline"))

        // A model of images synthesizes pictures and a grid, not sound.
        let pictures = try runMelforge(["synthesize", "--checkpoint", folder + "/part", "-o", folder + "/pictures", "--count", "5"])
        XCTAssertEqual(pictures.status, 0, pictures.standardError)
        XCTAssertEqual(listFolder(folder + "/pictures"), ["grid.png", "image-001.png", "image-002.png", "image-003.png",
                                                          "image-004.png", "image-005.png"])
        XCTAssertEqual(try PNG.read(folder + "/pictures/image-001.png", as: .gray).width, 84)
    }

    func testDivergenceStopsAndBadInputIsNamed() throws {
        let diverged = try train(["--steps", "20", "--lr", "1e30"], out: folder + "/nan")
        XCTAssertNotEqual(diverged.status, 0)
        XCTAssertTrue(diverged.standardError.contains("diverged at step"), diverged.standardError)
        let cases: [([String], String)] = [
            (["train", "gan", "--out", folder + "/x"], "exactly one of --data"),
            (["train", "gan", "--data", folder + "/nowhere", "--out", folder + "/x"], "nowhere"),
            (["train", "gan", "--images", folder + "/none-idx3", "--out", folder + "/x"], "none-idx3' does not exist"),
            (["train", "gan", "--images", folder + "/train-images-idx3-ubyte", "--out", folder + "/x", "--widths", "4,x"], "--widths"),
            (["train", "gan", "--images", folder + "/train-images-idx3-ubyte", "--out", folder + "/x", "--widths", "4,8,16"],
             "not B * 2^k"),
        ]
        for (arguments, fragment) in cases {
            let result = try runMelforge(arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.standardError.contains(fragment), "'\(fragment)' not in: \(result.standardError)")
        }
    }
}

final class ConditionalTrainCommandTests: XCTestCase {
    /// Audio/digits has one folder per digit: a conditional GAN learns ten classes, named in its checkpoint.
    func testConditionalTrainingOnTheBundledDigits() throws {
        let folder = try makeTemporaryFolder(self)
        let result = try runMelforge(["train", "gan", "--data", repositoryRoot + "/Audio/digits", "--out", folder + "/run",
                                      "--conditional", "--steps", "2", "--batch-size", "4", "--widths", "4,4,8,8",
                                      "--latent-size", "8", "--checkpoint-every", "2"])
        XCTAssertEqual(result.status, 0, result.standardError)
        let file = try SafeTensors.read(folder + "/run/checkpoint.safetensors")
        let training = try XCTUnwrap(file.metadata["training"])
        XCTAssertTrue(training.contains("\"seven\""), training)
        XCTAssertTrue(training.contains("\"hinge\""), training)
        XCTAssertNotNil(file["discriminator.projection.weight"])
        XCTAssertNotNil(file["generator.label_embedding.weight"])
        XCTAssertNotNil(file["discriminator.conv1.weight_orig"])

        // An IDX image file with no labels file beside it cannot be trained conditionally.
        var bytes: [UInt8] = [0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]
        bytes += [UInt8](repeating: 7, count: 2 * 28 * 28)
        try AtomicFile.write(bytes, to: folder + "/my-images-idx3-ubyte")
        let unlabelled = try runMelforge(["train", "vae", "--images", folder + "/my-images-idx3-ubyte", "--out", folder + "/x",
                                          "--conditional"])
        XCTAssertNotEqual(unlabelled.status, 0)
        XCTAssertTrue(unlabelled.standardError.contains("--labels FILE"), unlabelled.standardError)
    }
}

final class FeatureFolderTrainCommandTests: XCTestCase {
    /// Precomputed features train like the clips they came from; features made with other
    /// front-end settings are skipped with their reason.
    func testTrainsOnSpectrogramArrays() throws {
        let folder = try makeTemporaryFolder(self)
        for digit in ["one", "two"] {
            for voice in ["en-us+f2", "en-us+m1"] {
                let clip = repositoryRoot + "/Audio/digits/\(digit)/\(voice)_s165_p50.wav"
                XCTAssertEqual(try runMelforge(["spectrogram", clip, "-o", folder + "/features/\(digit)/\(voice).npy",
                                                "--n-mels", "64"]).status, 0)
            }
        }
        let odd = repositoryRoot + "/Audio/digits/one/en-gb_s165_p50.wav"
        XCTAssertEqual(try runMelforge(["spectrogram", odd, "-o", folder + "/features/one/eighty.npy"]).status, 0)
        let result = try runMelforge(["train", "vae", "--data", folder + "/features", "--out", folder + "/run", "--steps", "2",
                                      "--batch-size", "2", "--widths", "4,4,8,8", "--conditional"])
        XCTAssertEqual(result.status, 0, result.standardError)
        XCTAssertTrue(result.standardOutput.contains("4 feature arrays"), result.standardOutput)
        XCTAssertTrue(result.standardError.contains("eighty.npy' was made with other front-end settings"), result.standardError)
    }
}

final class TrainDataRobustnessTests: XCTestCase {
    /// A bad file in the data folder is reported by name and skipped; training goes on.
    func testBadClipIsSkippedAndNamed() throws {
        let folder = try makeTemporaryFolder(self)
        for digit in ["one", "two"] {
            try FileManager.default.createDirectory(atPath: folder + "/data/\(digit)", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: repositoryRoot + "/Audio/digits/\(digit)/en-us+f2_s165_p50.wav",
                                             toPath: folder + "/data/\(digit)/a.wav")
        }
        try AtomicFile.write(Array("not audio".utf8), to: folder + "/data/two/broken.wav")
        let result = try runMelforge(["train", "vae", "--data", folder + "/data", "--out", folder + "/run", "--steps", "1",
                                      "--batch-size", "2", "--widths", "4,4,8,8"])
        XCTAssertEqual(result.status, 0, result.standardError)
        XCTAssertTrue(result.standardError.contains("skipping") && result.standardError.contains("broken.wav"), result.standardError)
        XCTAssertTrue(result.standardOutput.contains("2 clips") && result.standardOutput.contains("1 skipped"), result.standardOutput)
    }
}

final class TrainingFrontEndCommandTests: XCTestCase {
    /// train takes spectrogram's front-end flags: a model of 16-band, 16-frame images, whose
    /// checkpoint carries the front end to synthesize, classifier train and evaluate.
    func testTrainsOnTheFrontEndItIsGiven() throws {
        let folder = try makeTemporaryFolder(self)
        let frontEnd = ["--n-mels", "16", "--hop-length", "1024"]
        let trained = try runMelforge(["train", "gan", "--data", repositoryRoot + "/Audio/digits/seven", "--out", folder + "/run",
                                       "--steps", "2", "--batch-size", "4", "--widths", "4,8"] + frontEnd)
        XCTAssertEqual(trained.status, 0, trained.standardError)
        XCTAssertTrue(trained.standardOutput.contains("8 clips from") && trained.standardOutput.contains("as 16x16 log-mel images"),
                      trained.standardOutput)
        let synthesized = try runMelforge(["synthesize", "--checkpoint", folder + "/run", "-o", folder + "/clips", "--count", "2",
                                           "--n-iter", "2"])
        XCTAssertEqual(synthesized.status, 0, synthesized.standardError)
        let clip = try AudioFile.read(folder + "/clips/clip-001.wav")
        XCTAssertEqual(clip.samples.count, 15 * 1_024)  // 16 centred frames of hop 1,024

        let classifier = try runMelforge(["classifier", "train", "--data", repositoryRoot + "/Audio/digits", "-o", folder + "/c.safetensors",
                                          "--epochs", "1", "--widths", "4,8"] + frontEnd)
        XCTAssertEqual(classifier.status, 0, classifier.standardError)
        let judged = try runMelforge(["evaluate", "--classifier", folder + "/c.safetensors", "--generated", folder + "/clips",
                                      "--splits", "1", "--json", folder + "/e.json"])
        XCTAssertEqual(judged.status, 0, judged.standardError)
        let steered = try runMelforge(["steer", "--checkpoint", folder + "/run", "--reward", "label:seven", "--classifier",
                                       folder + "/c.safetensors", "-o", folder + "/p.safetensors", "--steps", "1", "--eval-count", "4",
                                       "--batch-size", "4"])
        XCTAssertEqual(steered.status, 0, steered.standardError)
        // A classifier of the default front end refuses this generator's sound, naming the settings.
        let other = try runMelforge(["classifier", "train", "--data", repositoryRoot + "/Audio/digits", "-o", folder + "/d.safetensors",
                                     "--epochs", "1", "--widths", "4,8,8,8"])
        XCTAssertEqual(other.status, 0, other.standardError)
        let wrong = try runMelforge(["steer", "--checkpoint", folder + "/run", "--reward", "label:seven", "--classifier",
                                     folder + "/d.safetensors", "-o", folder + "/q.safetensors", "--steps", "1"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.standardError.contains("other front-end settings") && wrong.standardError.contains("nMels 16 vs 64"),
                      wrong.standardError)

        let oblong = try runMelforge(["train", "gan", "--data", repositoryRoot + "/Audio/digits/seven", "--out", folder + "/oblong",
                                      "--steps", "1", "--frames", "8"] + frontEnd)
        XCTAssertNotEqual(oblong.status, 0)
        XCTAssertTrue(oblong.standardError.contains("images must be square; got 16x8"), oblong.standardError)
    }
}

final class EngineOptionTests: XCTestCase {
    /// bf16 needs oneDNN; the run says which engine it uses and the checkpoint records the
    /// precision.
    func testEngineFlagsAreCheckedPrintedAndRecorded() throws {
        let folder = try makeTemporaryFolder(self)
        let refused = try runMelforge(["bench", "gan", "--engine", "im2col", "--precision", "bf16", "--steps", "1"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.standardError.contains("--precision bf16 needs --engine onednn"), refused.standardError)
        let trained = try runMelforge(["train", "vae", "--data", repositoryRoot + "/Audio/digits/seven", "--out", folder + "/run",
                                       "--steps", "1", "--batch-size", "4", "--widths", "4,8,16,32", "--precision", "fp32"])
        XCTAssertEqual(trained.status, 0, trained.standardError)
        XCTAssertTrue(trained.standardOutput.contains("convolutions: oneDNN (fp32)"), trained.standardOutput)
        let checkpoint = try SafeTensors.read(folder + "/run/checkpoint.safetensors")
        XCTAssertEqual(checkpoint.metadata["precision"], "fp32")
        XCTAssertEqual(checkpoint.metadata["convolutions"], "oneDNN (fp32)")
    }
}
