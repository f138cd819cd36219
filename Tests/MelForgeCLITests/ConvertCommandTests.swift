import AudioIO
import FileFormats
import Foundation
import TestSupport
import XCTest

/// `melforge convert` on a copy of the bundled clips with one broken file.
final class ConvertCommandTests: XCTestCase {
    var folder = ""
    var input = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
        input = folder + "/in"
        try FileManager.default.copyItem(atPath: repositoryRoot + "/Audio/digits", toPath: input)
        try AtomicFile.write(Array("not audio".utf8), to: input + "/one/broken.wav")
    }

    private func manifest(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    private func npyFiles(_ path: String) -> [String] {
        (FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []).filter { $0.hasSuffix(".npy") }.sorted()
    }

    func testConvertsMirrorsRecordsAndGoesPastBadFiles() throws {
        let result = try runMelforge(["convert", input, "-o", folder + "/out", "--n-mels", "64"])
        XCTAssertEqual(result.status, 0, result.standardError)
        XCTAssertTrue(result.standardOutput.contains("80 converted") && result.standardOutput.contains("1 failed"), result.standardOutput)
        // The progress lines in a log (not a terminal) name the failed file when it fails.
        XCTAssertTrue(result.standardError.contains("failed: one/broken.wav"), result.standardError)
        XCTAssertEqual(npyFiles(folder + "/out").count, 80)
        let seven = try NPY.read(folder + "/out/seven/en-us+f2_s165_p50.npy")
        XCTAssertEqual(seven.shape, [64, 63])
        let records = try manifest(folder + "/out/manifest.jsonl")
        XCTAssertEqual(records.count, 81)
        let broken = try XCTUnwrap(records.first { ($0["source"] as! String).hasSuffix("broken.wav") })
        XCTAssertEqual(broken["status"] as? String, "failed")
        XCTAssertTrue((broken["error"] as? String ?? "").contains("broken.wav"))
        let good = try XCTUnwrap(records.first { ($0["source"] as! String).hasSuffix("seven/en-us+f2_s165_p50.wav") })
        XCTAssertEqual(good["label"] as? String, "seven")
        XCTAssertEqual(good["sample_rate"] as? Int, 16_000)
        XCTAssertEqual(good["frames"] as? Int, 63)
        XCTAssertNotNil(try? Data(readFileBytes(folder + "/out/frontend.json")))

        let strict = try runMelforge(["convert", input, "-o", folder + "/strict", "--strict"])
        XCTAssertNotEqual(strict.status, 0)
        let again = try runMelforge(["convert", input, "-o", folder + "/out"])
        XCTAssertTrue(again.standardError.contains("pass --resume"), again.standardError)
        // Resuming with other front-end flags would mix two kinds of features: refused.
        let otherFlags = try runMelforge(["convert", input, "-o", folder + "/out", "--resume"])  // 80 bands, not 64
        XCTAssertNotEqual(otherFlags.status, 0)
        XCTAssertTrue(otherFlags.standardError.contains("out/frontend.json"), otherFlags.standardError)
        XCTAssertEqual(try NPY.read(folder + "/out/seven/en-us+f2_s165_p50.npy").shape, [64, 63])

        // And back: features to WAV files through the vocoder.
        let wavs = try runMelforge(["convert", "--to", "wav", folder + "/out", "-o", folder + "/wav", "--n-iter", "2"])
        XCTAssertEqual(wavs.status, 0, wavs.standardError)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/wav/seven/en-us+f2_s165_p50.wav"))
    }

    /// Killed with SIGKILL mid-run, then resumed: every file converted once, nothing partial left.
    func testResumeAfterKill() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: melforgeBinary)
        process.arguments = ["convert", input, "-o", folder + "/out", "--jobs", "1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Kill once some, not all, outputs exist.
        let deadline = Date().addingTimeInterval(20)
        while npyFiles(folder + "/out").count < 10 && Date() < deadline { usleep(2_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let before = npyFiles(folder + "/out").count
        XCTAssertLessThan(before, 80, "the run finished before it could be killed")

        let resumed = try runMelforge(["convert", input, "-o", folder + "/out", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        XCTAssertTrue(resumed.standardOutput.contains("\(80 - before) converted"), resumed.standardOutput)
        XCTAssertEqual(npyFiles(folder + "/out").count, 80)
        let all = FileManager.default.enumerator(atPath: folder + "/out")?.compactMap { $0 as? String } ?? []
        XCTAssertFalse(all.contains { $0.contains(".partial-") }, "a partial file was left: \(all.filter { $0.contains(".partial-") })")
        let sources = try manifest(folder + "/out/manifest.jsonl").map { $0["source"] as! String }
        XCTAssertEqual(sources.count, 81)
        XCTAssertEqual(Set(sources).count, 81, "every file once")
    }

    /// --format shards killed with SIGKILL mid-run (a shard's file half written: its data
    /// goes to disk clip by clip), then resumed: every clip converted once, in shards the
    /// manifest names, each tensor the same as from the .npy format, no partial file left.
    func testShardsResumeAfterKill() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: melforgeBinary)
        process.arguments = ["convert", input, "-o", folder + "/sh", "--format", "shards", "--shard-size", "0.1", "--jobs", "1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        func shardFiles() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder + "/sh/shards")) ?? []).filter { $0.hasPrefix("shard-") }
        }
        let deadline = Date().addingTimeInterval(20)
        while shardFiles().count < 3 && Date() < deadline { usleep(2_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let recorded = (try? manifest(folder + "/sh/manifest.jsonl"))?.filter { $0["status"] as? String == "converted" }.count ?? 0
        XCTAssertLessThan(recorded, 80, "the run finished before it could be killed")

        let resumed = try runMelforge(["convert", input, "-o", folder + "/sh", "--format", "shards", "--shard-size", "0.1", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        XCTAssertTrue(resumed.standardOutput.contains("\(80 - recorded) converted"), resumed.standardOutput)
        XCTAssertEqual(try runMelforge(["convert", input, "-o", folder + "/npy"]).status, 0)
        let records = try manifest(folder + "/sh/manifest.jsonl").filter { $0["status"] as? String == "converted" }
        XCTAssertEqual(Set(records.map { $0["source"] as! String }).count, 80)
        XCTAssertEqual(records.count, 80)
        var named = Set<String>()
        for record in records {
            let file = record["file"] as! String
            named.insert(file)
            let tensor = try XCTUnwrap(try SafeTensors.read(folder + "/sh/" + file)[record["tensor"] as! String])
            XCTAssertEqual(tensor.values, try NPY.read(folder + "/npy/" + (record["tensor"] as! String) + ".npy").values)
        }
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: folder + "/sh/shards")
        XCTAssertEqual(Set(onDisk.map { "shards/" + $0 }), named, "only shards the manifest names, no partial file")
    }

    /// A resumed machine of --shard K/N removes the temporary files its killed run left, and
    /// not those of the other machines, which may be writing into the same folder right now.
    func testResumeLeavesOtherMachinesTemporaryFilesAlone() throws {
        let first = try runMelforge(["convert", input, "-o", folder + "/out", "--shard", "1/2"])
        XCTAssertEqual(first.status, 0, first.standardError)
        let other = try manifest(folder + "/out/manifest-1-of-2.jsonl").compactMap { $0["file"] as? String }
        XCTAssertFalse(other.isEmpty)
        // Files of machine 0 are the ones machine 1 did not take.
        let all = Set(try FileManager.default.subpathsOfDirectory(atPath: input).filter { $0.hasSuffix(".wav") }
            .map { ($0 as NSString).deletingPathExtension + ".npy" })
        let ours = try XCTUnwrap(all.subtracting(other).sorted().first)
        let theirs = try XCTUnwrap(other.sorted().first)
        func temporary(_ file: String) -> String {
            let path = file as NSString
            return folder + "/out/" + path.deletingLastPathComponent + "/." + path.lastPathComponent + ".partial-1-x"
        }
        let leftovers = [temporary(ours), temporary(theirs), folder + "/out/shards/.shard-1-of-2-00000.safetensors.partial-1-x",
                         folder + "/out/shards/.shard-0-of-2-00003.safetensors.partial-1-x"]
        try FileManager.default.createDirectory(atPath: folder + "/out/shards", withIntermediateDirectories: true)
        for path in leftovers { XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([1])), path) }

        let resumed = try runMelforge(["convert", input, "-o", folder + "/out", "--shard", "0/2", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        XCTAssertEqual(leftovers.map { FileManager.default.fileExists(atPath: $0) }, [false, true, true, false])
    }

    /// N shards together cover every file exactly once, and --merge joins their manifests.
    func testShardsCoverEveryFileOnce() throws {
        var outputs: [String] = []
        for k in 0..<3 {
            let result = try runMelforge(["convert", input, "-o", folder + "/out", "--shard", "\(k)/3"])
            XCTAssertTrue(result.status == 0 || result.standardError.contains("nothing"), result.standardError)
            outputs += try manifest(folder + "/out/manifest-\(k)-of-3.jsonl").map { $0["source"] as! String }
        }
        XCTAssertEqual(outputs.count, 81)
        XCTAssertEqual(Set(outputs).count, 81)
        // The same shard from Slurm's environment.
        let slurm = try runMelforge(["convert", input, "-o", folder + "/slurm"],
                                    environment: ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3"])
        XCTAssertEqual(slurm.status, 0, slurm.standardError)
        let fromSlurm = try manifest(folder + "/slurm/manifest-1-of-3.jsonl").map { ($0["source"] as! String) }
        XCTAssertEqual(Set(fromSlurm), Set(try manifest(folder + "/out/manifest-1-of-3.jsonl").map { $0["source"] as! String }))

        let merged = try runMelforge(["convert", "--merge", folder + "/out"])
        XCTAssertEqual(merged.status, 0, merged.standardError)
        XCTAssertEqual(try manifest(folder + "/out/manifest.jsonl").count, 81)
        XCTAssertTrue(try runMelforge(["convert", input, "-o", folder + "/x", "--shard", "3/3"]).standardError.contains("--shard '3/3'"))
    }

    /// --format shards: every clip once, as a tensor equal to the .npy the default format
    /// writes; a resume after the manifest lost its tail (a kill between writing a shard and
    /// recording it) removes the unrecorded shards and redoes their clips (in larger shards
    /// here, so that new shards do not simply overwrite the old names).
    func testShardFormatMatchesNPYAndResumes() throws {
        XCTAssertEqual(try runMelforge(["convert", input, "-o", folder + "/npy"]).status, 0)
        let run = try runMelforge(["convert", input, "-o", folder + "/sh", "--format", "shards", "--shard-size", "0.05"])
        XCTAssertEqual(run.status, 0, run.standardError)
        func check() throws -> Int {
            let records = try manifest(folder + "/sh/manifest.jsonl").filter { $0["status"] as? String == "converted" }
            XCTAssertEqual(records.count, 80)
            XCTAssertEqual(Set(records.map { $0["source"] as! String }).count, 80)
            var shards: [String: SafeTensors] = [:]
            for record in records {
                let path = folder + "/sh/" + (record["file"] as! String)
                if shards[path] == nil { shards[path] = try SafeTensors.read(path) }
                let name = record["tensor"] as! String
                let tensor = try XCTUnwrap(shards[path]?[name], name)
                let reference = try NPY.read(folder + "/npy/" + name + ".npy")
                XCTAssertEqual(tensor.shape, reference.shape, name)
                XCTAssertEqual(tensor.values, reference.values, name)
            }
            let onDisk = try FileManager.default.contentsOfDirectory(atPath: folder + "/sh/shards")
            XCTAssertEqual(Set(onDisk.map { folder + "/sh/shards/" + $0 }), Set(shards.keys), "every shard file is referenced")
            return shards.count
        }
        let shardCount = try check()
        XCTAssertGreaterThan(shardCount, 10)

        let lines = try String(contentsOfFile: folder + "/sh/manifest.jsonl", encoding: .utf8).split(separator: "\n")
        try AtomicFile.write(Array((lines.prefix(30).joined(separator: "\n") + "\n").utf8), to: folder + "/sh/manifest.jsonl")
        // Resumed from another path to the same folder (a moved folder): its recorded shards are kept.
        let resumed = try runMelforge(["convert", input, "-o", folder + "/./sh", "--format", "shards", "--shard-size", "0.2", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        XCTAssertTrue(resumed.standardOutput.contains("skipped"), resumed.standardOutput)
        _ = try check()
        XCTAssertTrue(try runMelforge(["convert", input, "-o", folder + "/y", "--format", "tar"]).standardError.contains("--format 'tar'"))

        // Back to sound from the shards: the same WAV files as from the .npy features.
        for (features, wavs) in [("npy", "wav-npy"), ("sh", "wav-sh")] {
            let back = try runMelforge(["convert", "--to", "wav", folder + "/" + features, "-o", folder + "/" + wavs, "--n-iter", "2"])
            XCTAssertEqual(back.status, 0, back.standardError)
            XCTAssertTrue(back.standardOutput.contains("80 converted"), back.standardOutput)
        }
        let name = "seven/en-us+f2_s165_p50.wav"
        XCTAssertEqual(try AudioFile.read(folder + "/wav-sh/" + name).samples, try AudioFile.read(folder + "/wav-npy/" + name).samples)
        let records = try manifest(folder + "/wav-sh/manifest.jsonl")
        XCTAssertTrue(records.allSatisfy { ($0["source"] as? String)?.contains(".safetensors:") ?? false }, "\(records.first!)")
        // Resumed with part of its manifest lost: each clip is listed once, under its shard name.
        let wavLines = try String(contentsOfFile: folder + "/wav-sh/manifest.jsonl", encoding: .utf8).split(separator: "\n")
        try AtomicFile.write(Array((wavLines.prefix(30).joined(separator: "\n") + "\n").utf8), to: folder + "/wav-sh/manifest.jsonl")
        let again = try runMelforge(["convert", "--to", "wav", folder + "/sh", "-o", folder + "/wav-sh", "--n-iter", "2", "--resume"])
        XCTAssertEqual(again.status, 0, again.standardError)
        let resumedRecords = try manifest(folder + "/wav-sh/manifest.jsonl")
        XCTAssertEqual(resumedRecords.count, 80)
        XCTAssertEqual(Set(resumedRecords.map { $0["source"] as! String }).count, 80)
    }

    /// convert's output trains like the audio it came from: the same images in the same
    /// order give the same losses, from .npy files and from shards alike, also after the
    /// output folder was moved.
    func testTrainingReadsConvertedFeatures() throws {
        func losses(_ data: String, _ run: String) throws -> [Substring] {
            let result = try runMelforge(["train", "gan", "--data", data, "--out", folder + "/" + run,
                                          "--steps", "2", "--batch-size", "8", "--log-every", "1"])
            XCTAssertEqual(result.status, 0, result.standardError)
            // Each line without its samples_per_s, which is a timing.
            return try String(contentsOfFile: folder + "/" + run + "/log.jsonl", encoding: .utf8)
                .split(separator: "\n").map { $0.split(separator: "\"samples_per_s\"")[0] }
        }
        for format in ["npy", "shards"] {
            XCTAssertEqual(try runMelforge(["convert", input, "-o", folder + "/converted", "--n-mels", "64", "--format", format]).status, 0)
            // Moved after converting, as features copied to another machine are.
            try FileManager.default.moveItem(atPath: folder + "/converted", toPath: folder + "/" + format)
        }
        let fromAudio = try losses(input, "audio")
        XCTAssertEqual(fromAudio.count, 2)
        XCTAssertEqual(try losses(folder + "/npy", "npy"), fromAudio)
        XCTAssertEqual(try losses(folder + "/shards", "shards"), fromAudio)

        XCTAssertEqual(try runMelforge(["convert", input, "-o", folder + "/mel80"]).status, 0)
        let wrong = try runMelforge(["train", "gan", "--data", folder + "/mel80", "--out", folder + "/x", "--steps", "1"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.standardError.contains("mel80/frontend.json") && wrong.standardError.contains("--n-mels 64"), wrong.standardError)
    }

    /// Two clips whose names differ only in the extension would share one output: the later
    /// one (in sorted order) fails with a message naming both, in either format.
    func testClipsThatWouldShareAnOutputAreRefused() throws {
        // WAV content under another extension: libsndfile reads by content.
        try FileManager.default.copyItem(atPath: input + "/seven/en-us+f2_s165_p50.wav",
                                         toPath: input + "/seven/en-us+f2_s165_p50.aiff")
        for format in ["npy", "shards"] {
            let run = try runMelforge(["convert", input, "-o", folder + "/" + format, "--format", format])
            XCTAssertEqual(run.status, 0, run.standardError)
            XCTAssertTrue(run.standardOutput.contains("80 converted") && run.standardOutput.contains("2 failed"), run.standardOutput)
            let records = try manifest(folder + "/" + format + "/manifest.jsonl")
            let clash = try XCTUnwrap(records.first { ($0["source"] as! String).hasSuffix("seven/en-us+f2_s165_p50.wav") })
            XCTAssertEqual(clash["status"] as? String, "failed", format)
            XCTAssertTrue((clash["error"] as? String ?? "").contains("en-us+f2_s165_p50.aiff"), format)
            XCTAssertNil(clash["file"], format)
        }
    }

    /// A shard that cannot be written fails its clips, with the reason, and the run goes on.
    func testUnwritableShardFailsItsClipsOnly() throws {
        // A folder where the first shard file should go: the rename onto it fails (and the
        // folder, not being a shard file, is left alone).
        try FileManager.default.createDirectory(atPath: folder + "/sh/shards/shard-00000.safetensors",
                                                withIntermediateDirectories: true)
        let run = try runMelforge(["convert", input, "-o", folder + "/sh", "--format", "shards", "--shard-size", "0.05"])
        XCTAssertEqual(run.status, 0, run.standardError)
        XCTAssertTrue(run.standardError.contains("shard-00000.safetensors"), run.standardError)
        let records = try manifest(folder + "/sh/manifest.jsonl")
        let lost = records.filter { $0["status"] as? String == "failed" && !($0["source"] as! String).hasSuffix("broken.wav") }
        XCTAssertEqual(lost.count, 3, "the clips of the first shard (3 of about 20 KB fill 50 KB)")
        XCTAssertTrue(lost.allSatisfy { ($0["error"] as? String ?? "").contains("shard-00000.safetensors") })
        XCTAssertEqual(records.filter { $0["status"] as? String == "converted" }.count, 77)
        XCTAssertTrue(run.standardOutput.contains("77 converted") && run.standardOutput.contains("4 failed"), run.standardOutput)
        XCTAssertTrue(isDirectory(folder + "/sh/shards/shard-00000.safetensors"))
    }
}
