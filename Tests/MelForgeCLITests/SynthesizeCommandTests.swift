import AudioIO
import FileFormats
import Foundation
import TestSupport
import XCTest

/// `melforge synthesize` from tiny models trained for two steps.
final class SynthesizeCommandTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
    }

    private func trainTiny(_ model: String, extra: [String] = []) throws -> String {
        let run = folder + "/run-\(model)"
        let result = try runMelforge(["train", model, "--data", repositoryRoot + "/Audio/digits", "--out", run,
                                      "--steps", "2", "--batch-size", "4", "--widths", "4,4,8,8", "--latent-size", "8",
                                      "--checkpoint-every", "2"] + extra)
        XCTAssertEqual(result.status, 0, result.standardError)
        return run
    }

    func testClipsPicturesAndPage() throws {
        let run = try trainTiny("gan", extra: ["--conditional"])
        let out = folder + "/clips"
        let result = try runMelforge(["synthesize", "--checkpoint", run, "-o", out, "--count", "3", "--label", "seven",
                                      "--n-iter", "4", "--truncation", "1.5"])
        XCTAssertEqual(result.status, 0, result.standardError)
        XCTAssertTrue(result.standardOutput.contains("clips/s"), result.standardOutput)
        for n in 1...3 {
            let clip = try AudioFile.read(out + String(format: "/clip-%03d.wav", n))
            XCTAssertEqual(clip.sampleRate, 16_000)
            XCTAssertEqual(clip.source.encoding, "Signed 16 bit PCM")
            XCTAssertGreaterThan(clip.samples.count, 15_000)
            XCTAssertLessThanOrEqual(clip.samples.map(abs).max()!, 0.9)  // peak-normalised
            XCTAssertNoThrow(try PNG.read(out + String(format: "/clip-%03d.png", n), as: .rgb))
        }
        let page = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        for fragment in ["clip-001.wav", "clip-003.png", "<audio controls", "seven", "latentSize", "<svg"] {
            XCTAssertTrue(page.contains(fragment), "'\(fragment)' not in index.html")
        }
        // What a reader needs to know: the class asked for, the vocoder, the loss curve's axes.
        for fragment in ["class <b>seven</b>", "Vocoder: <b>griffin-lim (4 iterations from the pghi phase)</b>", ">step</text>", ">loss</text>",
                         "class=\"legend\""] {
            XCTAssertTrue(page.contains(fragment), "'\(fragment)' not in index.html")
        }
        // Nothing is loaded from the network (the SVG's xmlns is a name, not a request).
        XCTAssertFalse(page.contains("src=\"http") || page.contains("href=\"http") || page.contains("url(http"),
                       "the page must need no network")

        // In a real browser: the page from disk has its players, and every clip and picture decodes.
        let text = try checkPageInBrowser(out)
        XCTAssertTrue(text.contains("3 audio players for 3 clips"), text)
    }

    /// With a classifier the page says what it hears in each clip and how sure it is, and
    /// names the classifier; a classifier of pictures is refused for a generator of sound.
    func testPageShowsTheJudgesVerdicts() throws {
        let run = try trainTiny("gan")
        let classifier = folder + "/judge.safetensors"
        let trained = try runMelforge(["classifier", "train", "--data", repositoryRoot + "/Audio/digits", "-o", classifier,
                                       "--epochs", "1", "--widths", "4,8,8"])
        XCTAssertEqual(trained.status, 0, trained.standardError)
        let out = folder + "/judged"
        let result = try runMelforge(["synthesize", "--checkpoint", run, "-o", out, "--count", "3", "--n-iter", "2",
                                      "--classifier", classifier])
        XCTAssertEqual(result.status, 0, result.standardError)
        let page = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        XCTAssertEqual(page.components(separatedBy: "judged <b>").count - 1, 3, "one verdict per clip")
        let digits = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        XCTAssertTrue(digits.contains { page.contains("judged <b>\($0)</b> (") }, "a verdict names a digit")
        XCTAssertTrue(page.contains("Judge: the classifier <code>\(classifier)</code> (held-out accuracy"), "the page names its judge")
        for n in 1...3 {
            let picture = try PNG.read(out + String(format: "/clip-%03d.png", n), as: .rgb)
            XCTAssertGreaterThan(picture.width, 192 + 60, "the clip's picture has axes and a colour bar")
        }
    }

    func testVAEAndBadRequests() throws {
        let run = try trainTiny("vae")
        let ok = try runMelforge(["synthesize", "--checkpoint", run + "/checkpoint.safetensors", "-o", folder + "/v",
                                  "--count", "2", "--n-iter", "2"])
        XCTAssertEqual(ok.status, 0, ok.standardError)
        try AtomicFile.write(Array("not a checkpoint".utf8), to: folder + "/bad.safetensors")
        let cases: [([String], String)] = [
            (["--checkpoint", run, "-o", folder + "/v"], "already holds"),
            (["--checkpoint", run, "-o", folder + "/w", "--label", "seven"], "trained without classes"),
            (["--checkpoint", folder + "/missing", "-o", folder + "/w"], "missing' does not exist"),
            (["--checkpoint", folder + "/bad.safetensors", "-o", folder + "/w"], "bad.safetensors"),
            (["--checkpoint", run, "-o", folder + "/w", "--count", "0"], "--count 0"),
        ]
        for (arguments, fragment) in cases {
            let result = try runMelforge(["synthesize"] + arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.standardError.contains(fragment), "'\(fragment)' not in: \(result.standardError)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/w"))
        let overwrite = try runMelforge(["synthesize", "--checkpoint", run, "-o", folder + "/v", "--count", "1",
                                         "--n-iter", "1", "--overwrite"])
        XCTAssertEqual(overwrite.status, 0, overwrite.standardError)

        // The VAE's extras: a clip through the model, and walks between two clips or two seeds.
        let seven = repositoryRoot + "/Audio/digits/seven/en-us+f2_s165_p50.wav"
        let reconstruct = try runMelforge(["reconstruct", "--checkpoint", run, seven, "-o", folder + "/r/seven.wav", "--n-iter", "2"])
        XCTAssertEqual(reconstruct.status, 0, reconstruct.standardError)
        XCTAssertGreaterThan(try AudioFile.read(folder + "/r/seven.wav").samples.count, 15_000)
        XCTAssertNoThrow(try PNG.read(folder + "/r/seven.png", as: .rgb))
        let walk = try runMelforge(["interpolate", "--checkpoint", run, "--from", seven, "--to",
                                    repositoryRoot + "/Audio/digits/one/en-us+m1_s165_p50.wav", "--steps", "3",
                                    "-o", folder + "/walk", "--n-iter", "2"])
        XCTAssertEqual(walk.status, 0, walk.standardError)
        XCTAssertEqual(listFolder(folder + "/walk").filter { $0.hasSuffix(".wav") }, ["step-01.wav", "step-02.wav", "step-03.wav"])
        let seeds = try runMelforge(["interpolate", "--checkpoint", run, "--seeds", "1", "2", "--steps", "2", "-o", folder + "/seeds",
                                     "--n-iter", "2"])
        XCTAssertEqual(seeds.status, 0, seeds.standardError)
        let gan = try trainTiny("gan")
        let refused = try runMelforge(["reconstruct", "--checkpoint", gan, seven, "-o", folder + "/g.wav"])
        XCTAssertTrue(refused.standardError.contains("holds a GAN, which has no encoder"), refused.standardError)
    }
}
