import FileFormats
import Foundation
import TestSupport
import XCTest

/// Labels and speakers from file names, end to end: the bundled digits laid out flat as the
/// Free Spoken Digit Dataset is (`{digit}_{speaker}_{n}.wav`, the voices as speakers), with a
/// file that matches nothing. `classifier train --layout fsdd` holds out whole speakers and
/// records them; `convert --layout fsdd` records label and speaker and names the stray file.
final class LayoutCommandTests: XCTestCase {
    var folder = ""
    var flat: String { folder + "/fsdd" }

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
        try FileManager.default.createDirectory(atPath: flat, withIntermediateDirectories: true)
        let digits = repositoryRoot + "/Audio/digits"
        for (label, digit) in [("seven", "7"), ("two", "2"), ("zero", "0")] {
            let clips = try FileManager.default.contentsOfDirectory(atPath: digits + "/" + label).sorted().prefix(6)
            for (index, clip) in clips.enumerated() {
                // Six voices as six speakers, each saying each digit once.
                try FileManager.default.copyItem(atPath: digits + "/\(label)/\(clip)", toPath: flat + "/\(digit)_voice\(index)_0.wav")
            }
        }
        try FileManager.default.copyItem(atPath: digits + "/two/" + (try FileManager.default.contentsOfDirectory(atPath: digits + "/two").sorted()[0]),
                                         toPath: flat + "/stray.wav")
    }

    func testClassifierHoldsOutWholeSpeakersAndRecordsThem() throws {
        let output = folder + "/judge.safetensors"
        let result = try runMelforge(["classifier", "train", "--data", flat, "--layout", "fsdd", "-o", output, "--epochs", "1",
                                      "--held-out", "0.3", "--widths", "4,4,4,4", "--batch-size", "6"])
        XCTAssertEqual(result.status, 0, result.standardError)
        XCTAssertTrue(result.standardError.contains("'stray.wav' does not match"), result.standardError)
        let text = result.standardOutput + result.standardError
        XCTAssertTrue(text.contains("3 classes (0, 2, 7)"), text)
        XCTAssertTrue(text.contains("the speakers voice"), text)
        let metadata = try SafeTensors.read(output).metadata
        XCTAssertEqual(metadata["split"], "speaker")
        let heldOut = Set((metadata["held_out_speakers"] ?? "").split(separator: ",").map(String.init))
        let trained = Set((metadata["train_speakers"] ?? "").split(separator: ",").map(String.init))
        XCTAssertFalse(heldOut.isEmpty)
        XCTAssertTrue(heldOut.isDisjoint(with: trained))
        XCTAssertEqual(heldOut.union(trained), Set((0..<6).map { "voice\($0)" }))

        // evaluate --speakers held-out scores only the held-out speakers' clips of --reference.
        let json = folder + "/evaluation.json"
        let evaluate = try runMelforge(["evaluate", "--classifier", output, "--generated", flat, "--reference", flat, "--layout", "fsdd",
                                        "--speakers", "held-out", "--splits", "2", "--json", json])
        XCTAssertEqual(evaluate.status, 0, evaluate.standardError)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        XCTAssertEqual(Set(report["reference_speakers"] as? [String] ?? []), heldOut)
        XCTAssertEqual((report["reference_scores"] as? [String: Any])?["count"] as? Int, 3 * heldOut.count)
        XCTAssertTrue((report["reference_skipped"] as? [String] ?? []).contains { $0.contains("stray.wav") }, "\(report)")
        let ratio = try XCTUnwrap(report["inception_score_ratio"] as? Double)
        let scores = try XCTUnwrap(report["scores"] as? [String: Any]), reference = try XCTUnwrap(report["reference_scores"] as? [String: Any])
        XCTAssertEqual(ratio, (scores["inception_score"] as! Double) / (reference["inception_score"] as! Double), accuracy: 1e-9)
        XCTAssertTrue(evaluate.standardOutput.contains("Inception score / reference"), evaluate.standardOutput)
        // Named speakers; a name with no clip, and speakers without a naming that tells them, are refused by name.
        let namedSpeakers = try runMelforge(["evaluate", "--classifier", output, "--generated", flat, "--reference", flat, "--layout", "fsdd",
                                     "--speakers", "voice0,voice9", "--splits", "2", "--json", json])
        XCTAssertNotEqual(namedSpeakers.status, 0)
        XCTAssertTrue(namedSpeakers.standardError.contains("'voice9' has no clip"), namedSpeakers.standardError)
        let noReference = try runMelforge(["evaluate", "--classifier", output, "--generated", flat, "--layout", "fsdd",
                                           "--speakers", "held-out", "--splits", "2", "--json", json])
        XCTAssertNotEqual(noReference.status, 0)
        XCTAssertTrue(noReference.standardError.contains("give --reference"), noReference.standardError)
        let unnamed = try runMelforge(["evaluate", "--classifier", output, "--generated", flat, "--reference", flat,
                                       "--speakers", "held-out", "--splits", "2", "--json", json])
        XCTAssertNotEqual(unnamed.status, 0)
        XCTAssertTrue(unnamed.standardError.contains("--layout"), unnamed.standardError)

        // Speakers held out by name; a name with no clip is refused with the speakers there are.
        let namedJudge = folder + "/named.safetensors"
        let named = try runMelforge(["classifier", "train", "--data", flat, "--layout", "fsdd", "-o", namedJudge, "--epochs", "1",
                                     "--held-out", "voice2,voice5", "--widths", "4,4,4,4", "--batch-size", "6",
                                     "--loudness", "peak", "--augment"])
        XCTAssertEqual(named.status, 0, named.standardError)
        XCTAssertEqual(try SafeTensors.read(namedJudge).metadata["held_out_speakers"], "voice2,voice5")
        XCTAssertEqual(try SafeTensors.read(namedJudge).metadata["loudness"], "peak")
        // --augment is kept with the classifier (warps of 10%, masks of 1/8 of the 64 x 64 image).
        let configuration = try JSONSerialization.jsonObject(with: Data(try XCTUnwrap(SafeTensors.read(namedJudge).metadata["classifier"]).utf8))
        let augmentation = try XCTUnwrap((configuration as? [String: Any])?["augmentation"] as? [String: Any], "\(configuration)")
        XCTAssertEqual(augmentation["maxFrequencyMask"] as? Int, 8)
        XCTAssertEqual(augmentation["maxTimeMask"] as? Int, 8)
        XCTAssertEqual((augmentation["maxWarp"] as? Double) ?? 0, 0.1, accuracy: 1e-6)
        let unknown = try runMelforge(["classifier", "train", "--data", flat, "--layout", "fsdd", "-o", folder + "/u.safetensors",
                                       "--epochs", "1", "--held-out", "voice9"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.standardError.contains("speaker 'voice9' has no clip") && unknown.standardError.contains("voice0, voice1"),
                      unknown.standardError)

        // Folders as labels on a flat folder: one class, refused with what would work.
        let flatFolders = try runMelforge(["classifier", "train", "--data", flat, "-o", folder + "/no.safetensors", "--epochs", "1"])
        XCTAssertNotEqual(flatFolders.status, 0)
        XCTAssertTrue(flatFolders.standardError.contains("(--layout, --label-pattern)"), flatFolders.standardError)
        // A bad pattern names its flag.
        let bad = try runMelforge(["classifier", "train", "--data", flat, "--label-pattern", "([0-9", "-o", folder + "/x.safetensors"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.standardError.contains("--label-pattern '([0-9'"), bad.standardError)
    }

    func testConvertRecordsLabelAndSpeaker() throws {
        let result = try runMelforge(["convert", flat, "-o", folder + "/features", "--layout", "fsdd", "--n-mels", "32"])
        XCTAssertEqual(result.status, 0, result.standardError)
        let lines = try String(contentsOfFile: folder + "/features/manifest.jsonl", encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let converted = records.filter { $0["status"] as? String == "converted" }
        XCTAssertEqual(converted.count, 18)
        for record in converted {
            let name = ((record["source"] as! String) as NSString).lastPathComponent
            let parts = name.split(separator: "_")
            XCTAssertEqual(record["label"] as? String, String(parts[0]), name)
            XCTAssertEqual(record["speaker"] as? String, String(parts[1]), name)
        }
        let stray = records.first { ($0["source"] as! String).hasSuffix("stray.wav") }
        XCTAssertEqual(stray?["status"] as? String, "failed")
        XCTAssertTrue((stray?["error"] as? String ?? "").contains("does not match the label pattern"), "\(String(describing: stray))")
        // Training on the converted folder takes the recorded labels and speakers.
        let judge = try runMelforge(["classifier", "train", "--data", folder + "/features", "-o", folder + "/j.safetensors",
                                     "--epochs", "1", "--held-out", "0.3", "--widths", "4,4,4,4", "--n-mels", "32"])
        XCTAssertEqual(judge.status, 0, judge.standardError)
        XCTAssertEqual(try SafeTensors.read(folder + "/j.safetensors").metadata["split"], "speaker")
    }
}
