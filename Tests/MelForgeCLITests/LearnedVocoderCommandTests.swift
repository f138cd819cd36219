import AudioIO
import FileFormats
import Foundation
import TestSupport
import XCTest

/// `melforge train vocoder` and `--vocoder PATH` end to end, with a tiny vocoder trained for a
/// few steps on the bundled clips: what it writes, resuming, and every command that makes
/// sound taking it (and refusing it for features made another way).
final class LearnedVocoderCommandTests: XCTestCase {
    let clip = repositoryRoot + "/Audio/digits/seven/en-us+f2_s165_p50.wav"
    var folder = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
    }

    /// A tiny run; without discriminators unless `extra` says (--adversarial, --no-adversarial)
    /// or `plain` is false (the defaults).
    private func trainVocoder(_ out: String, steps: Int, extra: [String] = [], data: String = repositoryRoot + "/Audio/digits",
                              plain: Bool = true) throws -> CommandResult {
        let told = extra.contains("--adversarial") || extra.contains("--no-adversarial") || !plain
        return try runMelforge(["train", "vocoder", "--data", data, "--out", out, "--steps", "\(steps)",
                                "--batch-size", "4", "--width", "8", "--blocks", "1", "--segment-frames", "8", "--log-every", "1",
                                "--checkpoint-every", "3"] + (told ? [] : ["--no-adversarial"]) + extra)
    }

    /// Each log line without the speed.
    private func losses(_ run: String) throws -> [String] {
        try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n")
            .map { $0.replacingOccurrences(of: #", "audio_s_per_s": [0-9.]+"#, with: "", options: .regularExpression) }
    }

    func testTrainWritesItsRunAndResumesAsIfNeverStopped() throws {
        let run = folder + "/vocoder"
        let first = try trainVocoder(run, steps: 3)
        XCTAssertEqual(first.status, 0, first.standardError)
        XCTAssertTrue(first.standardOutput.contains("80 clips"), first.standardOutput)
        for file in ["checkpoint.safetensors", "log.jsonl", "losses.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/" + file), file)
        }
        let samples = listFolder(run + "/samples")
        XCTAssertEqual(samples.count, 4, "\(samples)")
        XCTAssertEqual(try AudioFile.read(run + "/samples/" + samples[0]).sampleRate, 16_000)
        let curve = try String(contentsOfFile: run + "/losses.svg", encoding: .utf8)
        for name in ["mel", "phase_ip", "sc"] { XCTAssertTrue(curve.contains(">\(name)</text>"), name) }

        // Again without --resume: refused, the run untouched.
        let again = try trainVocoder(run, steps: 3)
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.standardError.contains("already holds a run"), again.standardError)

        let resumed = try trainVocoder(run, steps: 6, extra: ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        XCTAssertTrue(resumed.standardOutput.contains("resuming"), resumed.standardOutput)
        let straight = try trainVocoder(folder + "/straight", steps: 6)
        XCTAssertEqual(straight.status, 0, straight.standardError)
        XCTAssertEqual(try losses(run), try losses(folder + "/straight"))

        // Resuming with another front end is refused, naming the setting and the flag.
        let other = try trainVocoder(run, steps: 7, extra: ["--resume", "--n-mels", "80"])
        XCTAssertNotEqual(other.status, 0)
        XCTAssertTrue(other.standardError.contains("nMels 80 vs 64") && other.standardError.contains("--n-mels 64"), other.standardError)

        // Discriminators join the run at its step with --adversarial, and stay: resuming
        // without it is refused.
        let joined = try trainVocoder(run, steps: 8, extra: ["--resume", "--adversarial", "--lr-d", "1e-4"])
        XCTAssertEqual(joined.status, 0, joined.standardError)
        XCTAssertTrue(joined.standardOutput.contains("discriminators join the run at step 6"), joined.standardOutput)
        let file = try SafeTensors.read(run + "/checkpoint.safetensors")
        XCTAssertTrue(file.tensors.contains { $0.name.hasPrefix("discriminator.period11.") })
        XCTAssertTrue(file.metadata["vocoder"]?.contains("\"learningRate\":0.0001") == true, file.metadata["vocoder"] ?? "")
        let log = try losses(run)
        XCTAssertEqual(log.count, 8)
        XCTAssertTrue(log[7].contains("\"adv\"") && log[7].contains("\"disc\"") && !log[5].contains("\"adv\""), log[5] + log[7])
        let without = try trainVocoder(run, steps: 9, extra: ["--resume", "--no-adversarial"])
        XCTAssertNotEqual(without.status, 0)
        XCTAssertTrue(without.standardError.contains("resume it without --no-adversarial"), without.standardError)
        // Resumed with neither flag, it keeps its discriminators.
        let kept = try trainVocoder(run, steps: 9, extra: ["--resume"], plain: false)
        XCTAssertEqual(kept.status, 0, kept.standardError)
        XCTAssertTrue(try losses(run)[8].contains("\"disc\""))

        // The default: a new run trains against discriminators; a plain run resumed with
        // neither flag stays plain.
        let fresh = try trainVocoder(folder + "/default", steps: 1, plain: false)
        XCTAssertEqual(fresh.status, 0, fresh.standardError)
        XCTAssertTrue(try SafeTensors.read(folder + "/default/checkpoint.safetensors").tensors.contains { $0.name.hasPrefix("discriminator.") })
        let plainRun = folder + "/plain"
        XCTAssertEqual(try trainVocoder(plainRun, steps: 1).status, 0)
        let stays = try trainVocoder(plainRun, steps: 2, extra: ["--resume"], plain: false)
        XCTAssertEqual(stays.status, 0, stays.standardError)
        XCTAssertFalse(try SafeTensors.read(plainRun + "/checkpoint.safetensors").tensors.contains { $0.name.hasPrefix("discriminator.") })
        let bad = try trainVocoder(folder + "/bad", steps: 1, extra: ["--adversarial", "--adversarial-loss", "wasserstein"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.standardError.contains("wasserstein"), bad.standardError)
        for (flag, value, accepted) in [("--lr-d", "0", "above 0"), ("--mel-weight", "-1", "0 or more"), ("--lr-d", "nan", "above 0")] {
            let refused = try trainVocoder(folder + "/bad", steps: 1, extra: ["--adversarial", "\(flag)=\(value)"])
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.standardError.contains("\(flag) \(value)") && refused.standardError.contains(accepted), refused.standardError)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/bad/checkpoint.safetensors"))
        }
    }

    /// --speed-perturb: three times the clips; the run keeps it (resuming without the flag goes
    /// on, with another setting is refused by name).
    func testSpeedPerturbationIsKeptByTheRun() throws {
        let (run, seven) = (folder + "/perturbed", repositoryRoot + "/Audio/digits/seven")
        let first = try trainVocoder(run, steps: 2, extra: ["--speed-perturb", "0.9,1.1"], data: seven)
        XCTAssertEqual(first.status, 0, first.standardError)
        XCTAssertTrue(first.standardOutput.contains("24 clips"), first.standardOutput)
        XCTAssertTrue(try SafeTensors.read(run + "/checkpoint.safetensors").metadata["vocoder"]?.contains("\"speeds\":[0.9") == true)
        let resumed = try trainVocoder(run, steps: 3, extra: ["--resume"], data: seven)
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        XCTAssertTrue(resumed.standardOutput.contains("24 clips"), resumed.standardOutput)
        let other = try trainVocoder(run, steps: 4, extra: ["--resume", "--speed-perturb", "0.8"], data: seven)
        XCTAssertNotEqual(other.status, 0)
        XCTAssertTrue(other.standardError.contains("was trained with --speed-perturb 0.9,1.1"), other.standardError)
        let bad = try trainVocoder(folder + "/bad", steps: 1, extra: ["--speed-perturb", "3"], data: seven)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.standardError.contains("--speed-perturb '3'"), bad.standardError)
    }

    func testEveryCommandThatMakesSoundTakesIt() throws {
        let run = folder + "/vocoder"
        XCTAssertEqual(try trainVocoder(run, steps: 2).status, 0)

        // resynth: the vocoder's own 64 bands without --n-mels.
        let resynth = try runMelforge(["resynth", clip, "-o", folder + "/resynth.wav", "--vocoder", run])
        XCTAssertEqual(resynth.status, 0, resynth.standardError)
        XCTAssertTrue(resynth.standardOutput.contains("learned vocoder (checkpoint.safetensors, 2 steps)"), resynth.standardOutput)
        XCTAssertEqual(try AudioFile.read(folder + "/resynth.wav").samples.count, 16_000)

        // Features made another way are refused, naming the difference and the flags to use.
        let mismatch = try runMelforge(["resynth", clip, "-o", folder + "/x.wav", "--vocoder", run, "--n-mels", "80"])
        XCTAssertNotEqual(mismatch.status, 0)
        XCTAssertTrue(mismatch.standardError.contains("nMels 80 vs 64") && mismatch.standardError.contains("--n-mels 64"),
                      mismatch.standardError)
        let linear = try runMelforge(["resynth", clip, "-o", folder + "/x.wav", "--vocoder", run, "--via", "linear"])
        XCTAssertNotEqual(linear.status, 0)
        XCTAssertTrue(linear.standardError.contains("--via linear needs a phase-retrieval vocoder"), linear.standardError)

        // invert (features without a sidecar: the vocoder's bands unless --n-mels says otherwise)
        // and convert --to wav (the folder's frontend.json).
        let features = folder + "/features"
        XCTAssertEqual(try runMelforge(["convert", repositoryRoot + "/Audio/digits/seven", "-o", features, "--n-mels", "64"]).status, 0)
        let npy = features + "/" + listFolder(features).first { $0.hasSuffix(".npy") }!
        let invert = try runMelforge(["invert", npy, "-o", folder + "/invert.wav", "--vocoder", run])
        XCTAssertEqual(invert.status, 0, invert.standardError)
        XCTAssertTrue(invert.standardOutput.contains("learned vocoder"), invert.standardOutput)
        let wavs = folder + "/wavs"
        let convert = try runMelforge(["convert", features, "-o", wavs, "--to", "wav", "--vocoder", run])
        XCTAssertEqual(convert.status, 0, convert.standardError)
        XCTAssertEqual(listFolder(wavs).filter { $0.hasSuffix(".wav") }.count, 8, "\(listFolder(wavs))")

        // What is not a vocoder is refused by name.
        let missing = try runMelforge(["resynth", clip, "-o", folder + "/x.wav", "--vocoder", folder + "/nothing"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.standardError.contains("--vocoder '\(folder)/nothing' is not accepted"), missing.standardError)
        let gan = folder + "/gan"
        XCTAssertEqual(try runMelforge(["train", "gan", "--data", repositoryRoot + "/Audio/digits", "--out", gan, "--steps", "1",
                                        "--batch-size", "4", "--widths", "4,4,8,8", "--latent-size", "8"]).status, 0)
        let notVocoder = try runMelforge(["resynth", clip, "-o", folder + "/x.wav", "--vocoder", gan])
        XCTAssertNotEqual(notVocoder.status, 0)
        XCTAssertTrue(notVocoder.standardError.contains("a generative model's checkpoint, not a learned vocoder"), notVocoder.standardError)

        // synthesize: the same clips through each vocoder, side by side on the page.
        let clips = folder + "/clips"
        let synthesize = try runMelforge(["synthesize", "--checkpoint", gan, "-o", clips, "--count", "2", "--vocoder", run,
                                          "--compare-vocoder", "griffinlim", "--compare-vocoder", "pghi", "--n-iter", "2"])
        XCTAssertEqual(synthesize.status, 0, synthesize.standardError)
        for name in ["clip-001.wav", "clip-001.griffinlim.wav", "clip-002.pghi.wav", "clip-002.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: clips + "/" + name), name)
        }
        let page = try String(contentsOfFile: clips + "/index.html", encoding: .utf8)
        for fragment in ["Vocoders, side by side", "learned vocoder (checkpoint.safetensors, 2 steps)",
                         "griffin-lim (2 iterations from the pghi phase)", "pghi (phase gradient heap integration)",
                         "src=\"clip-001.griffinlim.wav\""] {
            XCTAssertTrue(page.contains(fragment), "'\(fragment)' not in index.html")
        }
        // In Chromium: a player for each of the 6 sounds, and every sound and picture decodes.
        let text = try checkPageInBrowser(clips)
        XCTAssertTrue(text.contains("6 audio players for 2 clips (6 sounds)"), text)
    }

    func testBadRequestsAreRefusedByName() throws {
        let data = repositoryRoot + "/Audio/digits"
        for (arguments, expected) in [
            (["--no-center"], "needs centred frames; --no-center is not accepted"),
            (["--scale", "power"], "reads dB features; --scale power is not accepted"),
            (["--batch-size", "0"], "--batch-size 0 is not accepted"),
            (["--segment-frames", "1"], "--segment-frames 1 is not accepted"),
        ] {
            let result = try runMelforge(["train", "vocoder", "--data", data, "--out", folder + "/run"] + arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertTrue(result.standardError.contains(expected), result.standardError)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/run/checkpoint.safetensors"))
        }
        let missing = try runMelforge(["train", "vocoder", "--data", folder + "/nothing", "--out", folder + "/run"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.standardError.contains("'\(folder)/nothing' is not a folder of audio files"), missing.standardError)
        let compare = try runMelforge(["synthesize", "--checkpoint", folder, "-o", folder + "/clips", "--compare-vocoder",
                                       folder + "/no-vocoder"])
        XCTAssertNotEqual(compare.status, 0)
        XCTAssertTrue(compare.standardError.contains("--compare-vocoder '\(folder)/no-vocoder' is not accepted"), compare.standardError)
    }
}
