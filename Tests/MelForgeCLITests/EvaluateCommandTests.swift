import AudioIO
import FileFormats
import Foundation
import TestSupport
import XCTest

/// `melforge classifier train`, `evaluate` and `steer` on the bundled clips with tiny models.
final class EvaluateCommandTests: XCTestCase {
    var folder = ""
    let digits = repositoryRoot + "/Audio/digits"

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
    }

    func run(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        let result = try runMelforge(arguments)
        XCTAssertEqual(result.status, 0, "melforge \(arguments.joined(separator: " ")): \(result.standardError)", file: file, line: line)
        return result
    }

    func fails(_ arguments: [String], saying fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try runMelforge(arguments)
        XCTAssertNotEqual(result.status, 0, "melforge \(arguments.joined(separator: " ")) should fail", file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(result.standardError.contains(fragment), "'\(fragment)' not in: \(result.standardError)", file: file, line: line)
        }
    }

    func trainClassifier() throws -> String {
        let path = folder + "/judge.safetensors"
        let arguments = ["classifier", "train", "--data", digits, "-o", path, "--widths", "4,8,8,8"]
        _ = try run(arguments + ["--epochs", "1"])
        let result = try run(arguments + ["--epochs", "2", "--resume"])
        XCTAssertTrue(result.standardOutput.contains("resuming \(path) after epoch 1"), result.standardOutput)
        XCTAssertTrue(result.standardOutput.contains("held-out accuracy"), result.standardOutput)
        XCTAssertTrue(result.standardOutput.contains("20 held out"), result.standardOutput)  // 2 of each class's 8
        return path
    }

    func readJSON(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    /// A set judged against itself: every clip is its own nearest reference (|D|train = 0) and
    /// the two Gaussians coincide (Frechet distance 0); the labels cover all 80 clips.
    func testEvaluateASetAgainstItself() throws {
        let judge = try trainClassifier()
        let json = folder + "/scores.json"
        let result = try run(["evaluate", "--classifier", judge, "--generated", digits, "--reference", digits, "--json", json])
        for fragment in ["Inception score", "Frechet distance", "|D|self", "|D|train", "silent / clipped / NaN"] {
            XCTAssertTrue(result.standardOutput.contains(fragment), "'\(fragment)' not in \(result.standardOutput)")
        }
        let report = try readJSON(json)
        let scores = report["scores"] as! [String: Any]
        XCTAssertEqual(scores["count"] as? Int, 80)
        XCTAssertEqual((scores["label_counts"] as! [String: Int]).values.reduce(0, +), 80)
        XCTAssertEqual(scores["d_train"] as! Double, 0, accuracy: 1e-3)
        XCTAssertEqual(scores["frechet_distance"] as! Double, 0, accuracy: 1e-2)
        XCTAssertGreaterThan(scores["d_self"] as! Double, 1)
        XCTAssertLessThanOrEqual(scores["d_self_min"] as! Double, scores["d_self"] as! Double)
        let inception = scores["inception_score"] as! Double
        XCTAssertTrue((1...10).contains(inception), "\(inception)")
        XCTAssertEqual((report["reference_scores"] as! [String: Any])["inception_score"] as! Double, inception, accuracy: 1e-9)
        XCTAssertEqual(report["silent_fraction"] as? Double, 0)

        // The same clips as melforge convert's features: the same images, so again |D|train = 0.
        let features = folder + "/features"
        _ = try run(["convert", digits, "-o", features, "--n-mels", "64"])
        _ = try run(["evaluate", "--classifier", judge, "--generated", digits, "--reference", features, "--json", json])
        let againstFeatures = try readJSON(json)["scores"] as! [String: Any]
        XCTAssertEqual(againstFeatures["d_train"] as! Double, 0, accuracy: 1e-3)
        XCTAssertEqual(againstFeatures["frechet_distance"] as! Double, 0, accuracy: 1e-2)
    }

    /// --requested-by-folder: each clip's folder is the class it was asked for. On the corpus
    /// itself that is the classifier's accuracy; moving a folder's clips under another class's
    /// name moves exactly what is heard in them; clips outside a class's folder are refused.
    func testRequestedClassesComeFromFolders() throws {
        let judge = try trainClassifier()
        let json = folder + "/requested.json"
        let result = try run(["evaluate", "--classifier", judge, "--generated", digits, "--requested-by-folder", "--json", json])
        XCTAssertTrue(result.standardOutput.contains("heard as requested:"), result.standardOutput)
        let report = try readJSON(json)
        let counts = (report["scores"] as! [String: Any])["label_counts"] as! [String: Int]
        let requested = report["requested"] as! [String: Any]
        let byClass = requested["by_class"] as! [String: [String: Any]]
        XCTAssertEqual(requested["clips"] as? Int, 80)
        XCTAssertEqual(Set(byClass.keys).count, 10)
        var heardInAll: [String: Int] = [:]
        for (name, entry) in byClass {
            XCTAssertEqual(entry["clips"] as? Int, 8, name)
            let heard = entry["heard"] as! [String: Int]
            XCTAssertEqual(entry["heard_as_requested"] as? Int, heard[name] ?? 0, name)
            heardInAll.merge(heard, uniquingKeysWith: +)
        }
        XCTAssertEqual(heardInAll.filter { $0.value > 0 }, counts.filter { $0.value > 0 })  // the same verdicts, folder by folder
        let total = byClass.values.map { $0["heard_as_requested"] as! Int }.reduce(0, +)
        XCTAssertEqual(requested["heard_as_requested"] as? Int, total)
        XCTAssertEqual(requested["accuracy"] as! Double, Double(total) / 80, accuracy: 1e-12)

        // "seven"'s clips asked for as "zero": what is heard is the same, the score is for zero.
        let moved = folder + "/moved"
        try FileManager.default.createDirectory(atPath: moved, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: digits + "/seven", toPath: moved + "/zero")
        _ = try run(["evaluate", "--classifier", judge, "--generated", moved, "--requested-by-folder", "--splits", "2", "--json", json])
        let zero = ((try readJSON(json)["requested"] as! [String: Any])["by_class"] as! [String: [String: Any]])["zero"]!
        let seven = byClass["seven"]!
        XCTAssertEqual(zero["heard"] as! [String: Int], seven["heard"] as! [String: Int])
        XCTAssertEqual(zero["heard_as_requested"] as? Int, (seven["heard"] as! [String: Int])["zero"] ?? 0)

        // A folder that names no class, and a clip in no folder, are refused by name.
        try FileManager.default.copyItem(atPath: digits + "/seven", toPath: moved + "/sevn")
        try fails(["evaluate", "--classifier", judge, "--generated", moved, "--requested-by-folder", "--splits", "2", "--json", json],
                  saying: ["'sevn' is not a class", "seven"])
        try FileManager.default.removeItem(atPath: moved + "/sevn")
        try FileManager.default.copyItem(atPath: digits + "/seven/en-us+f2_s165_p50.wav", toPath: moved + "/loose.wav")
        try fails(["evaluate", "--classifier", judge, "--generated", moved, "--requested-by-folder", "--splits", "2", "--json", json],
                  saying: ["loose.wav' is in no class's folder"])
    }

    /// Silent, clipped and NaN clips are counted; a file that is not audio is listed and skipped.
    func testBrokenClipsAreCountedAndUnreadableOnesSkipped() throws {
        let judge = try trainClassifier()
        let generated = folder + "/generated"
        try FileManager.default.createDirectory(atPath: generated, withIntermediateDirectories: true)
        let clips = try FileManager.default.contentsOfDirectory(atPath: digits + "/seven").sorted().prefix(5)
        for name in clips { try FileManager.default.copyItem(atPath: digits + "/seven/" + name, toPath: generated + "/" + name) }
        try AudioFile.write([Float](repeating: 0, count: 16_000), sampleRate: 16_000, to: generated + "/silent.wav")
        try AudioFile.write((0..<16_000).map { $0 % 40 < 20 ? 1 : -1 }, sampleRate: 16_000, to: generated + "/clipped.wav")
        // A float WAV with a NaN: written with a marker value, whose bytes are then replaced (the
        // last occurrence: libsndfile's PEAK chunk in the header holds the marker too).
        let marker: Float = 0.123_456
        try AudioFile.write((0..<16_000).map { $0 == 100 ? marker : 0.1 * sin(Float($0) / 5) }, sampleRate: 16_000,
                            to: generated + "/nan.wav", encoding: .float32)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: generated + "/nan.wav"))
        let markerBytes = withUnsafeBytes(of: marker.bitPattern.littleEndian) { Data($0) }
        let nanBytes = withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) }
        bytes.replaceSubrange(bytes.range(of: markerBytes, options: .backwards)!, with: nanBytes)
        try bytes.write(to: URL(fileURLWithPath: generated + "/nan.wav"))
        try Data("not audio".utf8).write(to: URL(fileURLWithPath: generated + "/text.wav"))

        let json = folder + "/scores.json"
        let result = try run(["evaluate", "--classifier", judge, "--generated", generated, "--json", json, "--splits", "2"])
        XCTAssertTrue(result.standardOutput.contains("1 files could not be read"), result.standardOutput)
        let report = try readJSON(json)
        XCTAssertEqual((report["scores"] as! [String: Any])["count"] as? Int, 8)
        XCTAssertEqual(report["silent_fraction"] as! Double, 1.0 / 9, accuracy: 1e-9)
        XCTAssertEqual(report["clipped_fraction"] as! Double, 1.0 / 9, accuracy: 1e-9)
        XCTAssertEqual(report["non_finite_fraction"] as! Double, 1.0 / 9, accuracy: 1e-9)
        let skipped = report["skipped"] as! [String]
        XCTAssertEqual(skipped.count, 1)
        XCTAssertTrue(skipped[0].contains("text.wav"), "\(skipped)")
        XCTAssertNil((report["scores"] as! [String: Any])["frechet_distance"], "no reference, no Frechet distance")
        // A clip given twice is found: the closest pair is at distance 0.
        try FileManager.default.copyItem(atPath: generated + "/" + clips.first!, toPath: generated + "/again.wav")
        _ = try run(["evaluate", "--classifier", judge, "--generated", generated, "--json", json, "--splits", "2"])
        XCTAssertEqual((try readJSON(json)["scores"] as! [String: Any])["d_self_min"] as? Double, 0)

        try fails(["evaluate", "--classifier", judge, "--generated", folder + "/missing"], saying: ["--generated", "missing"])
        try fails(["evaluate", "--classifier", judge, "--generated", generated], saying: ["at least 10", "--splits"])
        try fails(["evaluate", "--classifier", digits + "/seven/" + clips.first!, "--generated", generated],
                  saying: [clips.first!])
        try fails(["evaluate", "--generated", generated], saying: ["--classifier"])
        try fails(["classifier", "train", "--data", digits + "/seven", "-o", folder + "/one-class.safetensors"],
                  saying: ["a classifier needs", "two folders"])
    }

    /// A copy at half the amplitude: spectral convergence 0.5, log-spectral distance 20 log10 2 dB.
    func testResynthesizedAgainstOriginals() throws {
        let (originals, copies) = (folder + "/originals", folder + "/copies")
        for path in [originals + "/a", copies + "/a"] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        var random = SystemRandomNumberGenerator()
        for name in ["a/one", "two"] {
            let signal = (0..<16_000).map { i in 0.3 * sin(Float(i) * 0.07) + Float.random(in: -0.05...0.05, using: &random) }
            try AudioFile.write(signal, sampleRate: 16_000, to: originals + "/\(name).wav", encoding: .float32)
            try AudioFile.write(signal.map { $0 / 2 }, sampleRate: 16_000, to: copies + "/\(name).wav", encoding: .float32)
        }
        try AudioFile.write([Float](repeating: 0.1, count: 800), sampleRate: 16_000, to: originals + "/unpaired.wav")
        let json = folder + "/resynthesis.json"
        let result = try run(["evaluate", "--resynthesized", copies, "--reference", originals, "--json", json])
        XCTAssertTrue(result.standardOutput.contains("2 pairs"), result.standardOutput)
        let report = try readJSON(json)
        XCTAssertEqual(report["spectral_convergence"] as! Double, 0.5, accuracy: 1e-5)
        XCTAssertEqual(report["log_spectral_distance_db"] as! Double, 20 * log10(2), accuracy: 1e-3)
        XCTAssertEqual(report["without_copy"] as? [String], ["unpaired"])
        try fails(["evaluate", "--resynthesized", copies], saying: ["--reference"])
        try fails(["evaluate", "--resynthesized", copies, "--reference", folder], saying: ["no file of --resynthesized", "namesake"])
    }

    /// A tiny GAN steered toward "seven" by the classifier: the policy, its log and curve, a
    /// resume, synthesis from the policy, evaluation during training, and the refusals.
    func testSteerResumeSynthesizeAndRefusals() throws {
        let judge = try trainClassifier()
        let run = folder + "/gan"
        _ = try self.run(["train", "gan", "--data", digits, "--out", run, "--steps", "2", "--batch-size", "4",
                          "--widths", "4,4,8,8", "--latent-size", "8", "--classifier", judge, "--eval-every", "1",
                          "--eval-count", "10"])
        let log = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(log.count, 2)
        XCTAssertTrue(log.allSatisfy { $0.contains("\"inception_score\"") && $0.contains("\"frechet_distance\"") }, "\(log)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/scores.svg"))

        let policy = folder + "/seven.safetensors"
        let steer = ["steer", "--checkpoint", run, "--reward", "label:seven", "--classifier", judge, "-o", policy,
                     "--batch-size", "8", "--eval-count", "16", "--save-every", "2"]
        let result = try self.run(steer + ["--steps", "4"])
        XCTAssertTrue(result.standardOutput.contains("labelled 'seven'"), result.standardOutput)
        XCTAssertTrue(result.standardOutput.contains("|D|self"), result.standardOutput)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/seven.svg"))
        func logLines() throws -> [String] {
            try String(contentsOfFile: folder + "/seven.log.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
        }
        XCTAssertEqual(try logLines().count, 4)
        XCTAssertTrue(try logLines()[0].contains("reward_mean"))
        try fails(steer + ["--steps", "6"], saying: ["already exists", "--resume"])
        _ = try self.run(steer + ["--steps", "6", "--resume"])
        XCTAssertEqual(try logLines().count, 6)
        try fails(["steer", "--checkpoint", run, "--reward", "loudness:-20", "-o", policy, "--resume"],
                  saying: ["another generator or reward"])

        let clips = folder + "/clips"
        _ = try self.run(["synthesize", "--checkpoint", run, "--policy", policy, "-o", clips, "--count", "2", "--n-iter", "2"])
        XCTAssertNoThrow(try AudioFile.read(clips + "/clip-002.wav"))
        let page = try String(contentsOfFile: clips + "/index.html", encoding: .utf8)
        XCTAssertTrue(page.contains("Steered") && page.contains("label:seven"), "the page names the policy and its reward")

        // Acoustic rewards need no classifier.
        let bright = try self.run(["steer", "--checkpoint", run, "--reward", "centroid:1000", "-o", folder + "/bright.safetensors",
                                   "--steps", "2", "--batch-size", "4", "--eval-count", "4"])
        XCTAssertTrue(bright.standardOutput.contains("mean centroid (Hz)"), bright.standardOutput)

        // Refusals, each naming the bad value and what is accepted.
        let out = folder + "/other.safetensors"
        try fails(["steer", "--checkpoint", run, "--reward", "label:eleven", "--classifier", judge, "-o", out],
                  saying: ["'eleven'", "seven", "zero"])
        try fails(["steer", "--checkpoint", run, "--reward", "label:seven", "-o", out], saying: ["needs --classifier"])
        try fails(["steer", "--checkpoint", run, "--reward", "volume:3", "-o", out], saying: ["unknown reward 'volume'", "loudness:"])
        try fails(["steer", "--checkpoint", run, "--reward", "centroid:9000", "-o", out], saying: ["9000", "8000"])
        try fails(["synthesize", "--checkpoint", run, "--policy", judge, "-o", folder + "/none"], saying: ["not a MelForge policy"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/none"), "a refused synthesis creates no folder")

        // A policy belongs to its generator; steer takes unconditional generators only.
        let other = folder + "/gan-other"
        _ = try self.run(["train", "gan", "--data", digits, "--out", other, "--steps", "1", "--batch-size", "4",
                          "--widths", "4,4,8,8", "--latent-size", "6", "--conditional"])
        try fails(["synthesize", "--checkpoint", other, "--policy", policy, "-o", folder + "/mismatch", "--label", "seven"],
                  saying: ["was steered for generator", other])
        try fails(["steer", "--checkpoint", other, "--reward", "label:seven", "--classifier", judge, "-o", out],
                  saying: ["conditional", "--label"])

        // A classifier of other front-end settings (its metadata edited to 80 mel bands).
        let file = try SafeTensors.read(judge)
        var metadata = file.metadata
        metadata["front_end"] = metadata["front_end"]!.replacingOccurrences(of: "\"nMels\":64", with: "\"nMels\":80")
        XCTAssertNotEqual(metadata["front_end"], file.metadata["front_end"])
        let otherJudge = folder + "/other-judge.safetensors"
        try SafeTensors(tensors: file.tensors, metadata: metadata).write(to: otherJudge)
        try fails(["steer", "--checkpoint", run, "--reward", "label:seven", "--classifier", otherJudge, "-o", out],
                  saying: ["other front-end settings", "nMels"])

        // A classifier of pictures cannot judge a generator of sound.
        let pictures = folder + "/pictures"
        for (label, value) in [("dark", UInt8(10)), ("light", UInt8(240))] {
            try FileManager.default.createDirectory(atPath: pictures + "/" + label, withIntermediateDirectories: true)
            for n in 0..<3 {
                try PNG.write(PixelImage(width: 8, height: 8, channels: .gray, pixels: [UInt8](repeating: value &+ UInt8(n), count: 64)),
                              to: pictures + "/\(label)/\(n).png")
            }
        }
        let pictureJudge = folder + "/pictures.safetensors"
        _ = try self.run(["classifier", "train", "--images", pictures, "-o", pictureJudge, "--epochs", "1", "--widths", "4,4"])
        try fails(["steer", "--checkpoint", run, "--reward", "label:dark", "--classifier", pictureJudge, "-o", out],
                  saying: ["trained on images", "makes audio"])
        // The same classifier judges a folder of pictures; one of another size is skipped.
        try PNG.write(PixelImage(width: 16, height: 16, channels: .gray, pixels: [UInt8](repeating: 0, count: 256)),
                      to: pictures + "/grid.png")
        let json = folder + "/pictures.json"
        _ = try self.run(["evaluate", "--classifier", pictureJudge, "--generated", pictures, "--splits", "2", "--json", json])
        let report = try readJSON(json)
        XCTAssertEqual((report["scores"] as! [String: Any])["count"] as? Int, 6)
        XCTAssertTrue((report["skipped"] as! [String]).first?.contains("16x16") ?? false, "\(report["skipped"]!)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a refused run writes nothing")
    }
}
