import FileFormats
import Foundation
import TestSupport
import XCTest

/// `mpirun -n 2 melforge train ...`: two processes, each on half of every batch, compute what
/// one process computes on the whole batch. On the im2col engine (fp32): one process cuts its
/// batch into the same halves for its two workers, so the two runs differ only in the order
/// of a few sums. oneDNN picks its blocking by batch size, so a share of 4 sums in another
/// order than a batch of 8, and 20 steps of a GAN amplify those 1e-7 differences past any
/// tolerance that would still catch a real error.
final class DataParallelTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/mpirun") else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("mpirun is missing (Scripts/setup.sh installs openmpi-bin)") }
            throw XCTSkip("mpirun is not installed (Scripts/test.sh installs it)")
        }
    }

    /// `melforge ARGUMENTS` under `mpirun -n PROCESSES` (as root too; more processes than
    /// cores allowed).
    func mpirun(_ processes: Int, _ arguments: [String]) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mpirun")
        process.arguments = ["-n", "\(processes)", "--oversubscribe", "--allow-run-as-root", melforgeBinary] + arguments
        let output = Pipe(), error = Pipe()
        (process.standardOutput, process.standardError, process.standardInput) = (output, error, FileHandle.nullDevice)
        try process.run()
        let (out, err) = (output.fileHandleForReading.readDataToEndOfFile(), error.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, standardOutput: String(decoding: out, as: UTF8.self),
                             standardError: String(decoding: err, as: UTF8.self))
    }

    func train(_ model: String, processes: Int, out: String, steps: Int, extra: [String] = []) throws -> CommandResult {
        let result = try mpirun(processes, ["train", model, "--data", repositoryRoot + "/Audio/digits", "--out", out, "--steps", "\(steps)",
                                            "--batch-size", "8", "--widths", "4,8,16,32", "--latent-size", "8", "--log-every", "1",
                                            "--checkpoint-every", "10", "--engine", "im2col"] + extra)
        XCTAssertEqual(result.status, 0, result.standardError)
        return result
    }

    /// Each log line's numbers but the speed.
    func losses(_ run: String) throws -> [[String: Double]] {
        try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n").map {
            var entry = try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Double]
            (entry["samples_per_s"], entry["audio_s_per_s"]) = (nil, nil)
            return entry
        }
    }

    /// Two runs' losses and checkpoint tensors agree to `tolerance`, relative to each tensor's
    /// largest value: the only differences are fp32 sums taken in another order (a process's
    /// partial sums added by the allreduce instead of in one loop).
    func assertSameRun(_ a: String, _ b: String, tolerance: Double, file: StaticString = #filePath, line: UInt = #line) throws {
        let (first, second) = (try losses(a), try losses(b))
        XCTAssertEqual(first.count, second.count, file: file, line: line)
        for (x, y) in zip(first, second) {
            XCTAssertEqual(Set(x.keys), Set(y.keys), file: file, line: line)
            for (key, value) in x {
                XCTAssertEqual(value, y[key]!, accuracy: tolerance * max(1, abs(value)), "step \(x["step"]!) \(key)", file: file, line: line)
            }
        }
        let (one, two) = (try SafeTensors.read(a + "/checkpoint.safetensors"), try SafeTensors.read(b + "/checkpoint.safetensors"))
        XCTAssertEqual(one.tensors.map(\.name), two.tensors.map(\.name), file: file, line: line)
        for (x, y) in zip(one.tensors, two.tensors) {
            let scale = Double(x.values.map(abs).max() ?? 0)
            let worst = zip(x.values, y.values).map { Double(abs($0 - $1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, tolerance * max(scale, 1e-6), "\(x.name)", file: file, line: line)
        }
        XCTAssertEqual(one.metadata["random_state"], two.metadata["random_state"], "the random streams", file: file, line: line)
    }

    /// A conditional GAN (hinge loss, spectral norm, BatchNorm in the generator) and a VAE,
    /// 3 steps of a global batch of 8: 2 processes x 4 images give 1 process x 8's losses,
    /// weights and Adam moments (tolerance 1e-4 relative: fp32 sums in another order give
    /// 2-4e-6, seeds 0-3). A gradient or a statistic not summed across the processes is off
    /// from step 1. Not many more steps: sooner or later the sums' last bits move a value
    /// across a kink (a rectifier's, the hinge's) and the GAN's two runs drift apart as any
    /// two runs a rounding apart do (measured, seeds 0-3, before and after the vectorised tanh:
    /// from steps 6-18 on, growing past 1e-4 within a few steps).
    func testTwoProcessesTrainAsOne() throws {
        for (model, extra) in [("gan", ["--conditional"]), ("vae", [])] {
            let one = try train(model, processes: 1, out: folder + "/\(model)-1", steps: 3, extra: extra)
            let two = try train(model, processes: 2, out: folder + "/\(model)-2", steps: 3, extra: extra)
            XCTAssertTrue(two.standardOutput.contains("data-parallel over 2 processes"), two.standardOutput)
            XCTAssertFalse(one.standardOutput.contains("data-parallel"), one.standardOutput)
            // Only the first process reports and writes.
            XCTAssertEqual(two.standardOutput.components(separatedBy: "clips from").count - 1, 1, two.standardOutput)
            try assertSameRun(folder + "/\(model)-1", folder + "/\(model)-2", tolerance: 1e-4)
        }
    }

    /// The learned vocoder too: 2 processes x 2 segments give 1 process x 4's losses and
    /// gradients (it has no batch statistics, so no engine or batch size caveat). Compared after
    /// one step, where Adam's moments are the summed gradient (0.2 g) and its square (0.01 g^2):
    /// within 5e-4 of the largest (fp32 sums in another order usually give 5e-6, but 2.4e-4 was
    /// seen once for the head's moments in a full suite run); a gradient not summed, or
    /// summed at the wrong weight, is off by a factor of 2. The weights themselves only within
    /// two learning rates: Adam's first step moves every weight by the learning rate times the
    /// sign of its gradient, and the sign of a gradient that is nearly zero is the order of sums.
    func testVocoderTrainsAsOne() throws {
        // Without and with the discriminators (whose gradients are summed over the processes too).
        for (name, extra) in [("vocoder", ["--no-adversarial"]), ("adversarial", ["--adversarial"])] {
            for processes in [1, 2] {
                let result = try mpirun(processes, ["train", "vocoder", "--data", repositoryRoot + "/Audio/digits", "--out",
                                                    folder + "/\(name)-\(processes)", "--steps", "1", "--batch-size", "4", "--width", "8",
                                                    "--blocks", "1", "--segment-frames", "8", "--checkpoint-every", "1", "--lr", "1e-3"] + extra)
                XCTAssertEqual(result.status, 0, result.standardError)
                XCTAssertEqual(result.standardOutput.contains("data-parallel over 2 processes"), processes == 2, result.standardOutput)
            }
            let (a, b) = (folder + "/\(name)-1", folder + "/\(name)-2")
            for (x, y) in zip(try losses(a), try losses(b)) {
                for (key, value) in x { XCTAssertEqual(value, y[key]!, accuracy: 1e-4 * max(1, abs(value)), "\(name) \(key)") }
            }
            let (one, two) = (try SafeTensors.read(a + "/checkpoint.safetensors"), try SafeTensors.read(b + "/checkpoint.safetensors"))
            XCTAssertEqual(one.tensors.map(\.name), two.tensors.map(\.name))
            XCTAssertEqual(one.tensors.contains { $0.name.hasPrefix("adam_discriminator.") }, name == "adversarial")
            for (x, y) in zip(one.tensors, two.tensors) {
                let worst = zip(x.values, y.values).map { abs($0 - $1) }.max() ?? 0
                if x.name.hasPrefix("adam") {
                    // (plus 1e-7: a gradient that cancels, as hinge's on a discriminator's last bias at
                    // the first step, +1 for real and -1 for made at each place, is rounding noise)
                    XCTAssertLessThanOrEqual(worst, 5e-4 * max(x.values.map(abs).max() ?? 0, 1e-12) + 1e-7, x.name)
                } else {
                    XCTAssertLessThanOrEqual(worst, 2.001e-3, x.name)
                }
            }
            XCTAssertEqual(one.metadata["random_state"], two.metadata["random_state"], "the random streams")
        }
    }

    /// The classifier too, over 3 epochs of batches of 59 (the last batch of each epoch holds
    /// one image: too few to split, both processes compute it whole at half weight); and a
    /// GAN's batch smaller than the processes is refused (BatchNorm needs an image each).
    func testClassifierTrainsAsOneAndTooSmallBatchesAreRefused() throws {
        for processes in [1, 2] {
            let result = try mpirun(processes, ["classifier", "train", "--data", repositoryRoot + "/Audio/digits", "-o",
                                                folder + "/c\(processes).safetensors", "--epochs", "3", "--batch-size", "59",
                                                "--widths", "4,8,8", "--engine", "im2col"])
            XCTAssertEqual(result.status, 0, result.standardError)
        }
        let (one, two) = (try SafeTensors.read(folder + "/c1.safetensors"), try SafeTensors.read(folder + "/c2.safetensors"))
        for (x, y) in zip(one.tensors, two.tensors) {
            let scale = x.values.map(abs).max() ?? 0
            XCTAssertLessThanOrEqual(zip(x.values, y.values).map { abs($0 - $1) }.max() ?? 0, 1e-4 * max(scale, 1e-6), x.name)
        }
        let small = try mpirun(2, ["train", "gan", "--data", repositoryRoot + "/Audio/digits", "--out", folder + "/small",
                                   "--steps", "1", "--batch-size", "1", "--widths", "4,8,16,32"])
        XCTAssertNotEqual(small.status, 0)
        XCTAssertTrue(small.standardError.contains("--batch-size 1 is split over 2 processes"), small.standardError)
    }

    /// A run checkpointed by one process resumes under two, and the reverse, as the whole
    /// run would have gone on.
    func testResumeAcrossProcessCounts() throws {
        _ = try train("vae", processes: 1, out: folder + "/whole", steps: 20)
        for (first, then) in [(1, 2), (2, 1)] {
            let run = folder + "/\(first)-then-\(then)"
            _ = try train("vae", processes: first, out: run, steps: 10)
            let resumed = try train("vae", processes: then, out: run, steps: 20, extra: ["--resume"])
            XCTAssertTrue(resumed.standardOutput.contains("resuming"), resumed.standardOutput)
            try assertSameRun(folder + "/whole", run, tolerance: 1e-4)
        }
    }

    /// A process killed mid-run ends the whole job non-zero, and the last checkpoint (written
    /// atomically by the first process) is whole. A process that cannot start its share (here:
    /// another process's data) ends the job naming its rank and the cause.
    func testAFailedProcessEndsTheJob() throws {
        let run = folder + "/killed"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mpirun")
        process.arguments = ["-n", "2", "--oversubscribe", "--allow-run-as-root", melforgeBinary, "train", "vae", "--data",
                             repositoryRoot + "/Audio/digits", "--out", run, "--steps", "100000", "--batch-size", "8",
                             "--widths", "4,8,16,32", "--checkpoint-every", "5"]
        (process.standardOutput, process.standardError) = (FileHandle.nullDevice, FileHandle.nullDevice)
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: run + "/checkpoint.safetensors") && Date() < deadline && process.isRunning {
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertTrue(process.isRunning, "the job ended before its first checkpoint")
        // The second melforge process under this mpirun.
        let children = try childProcesses(of: process.processIdentifier).filter { try commandLine($0).contains("melforge") }
        XCTAssertEqual(children.count, 2, "\(children)")
        kill(children.max()!, SIGKILL)
        process.waitUntilExit()
        XCTAssertNotEqual(process.terminationStatus, 0)
        let checkpoint = try SafeTensors.read(run + "/checkpoint.safetensors")
        XCTAssertGreaterThanOrEqual(Int(checkpoint.metadata["step"] ?? "0") ?? 0, 5)

        // Rank 1 cannot read a folder rank 0 can: OMPI_COMM_WORLD_RANK picks the data path.
        let script = folder + "/rank-data.sh"
        try AtomicFile.write(Array("""
            #!/bin/sh
            if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then data=\(folder)/nowhere; else data=\(repositoryRoot)/Audio/digits; fi
            exec \(melforgeBinary) train vae --data "$data" --out \(folder)/bad --steps 3 --batch-size 8 --widths 4,8,16,32

            """.utf8), to: script)
        chmod(script, 0o755)
        let failing = Process()
        failing.executableURL = URL(fileURLWithPath: "/usr/bin/mpirun")
        failing.arguments = ["-n", "2", "--oversubscribe", "--allow-run-as-root", script]
        let error = Pipe()
        (failing.standardOutput, failing.standardError) = (FileHandle.nullDevice, error)
        try failing.run()
        let text = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        failing.waitUntilExit()
        XCTAssertNotEqual(failing.terminationStatus, 0)
        XCTAssertTrue(text.contains("rank 1 of 2") && text.contains("nowhere"), text)
    }

    func childProcesses(of parent: Int32) throws -> [Int32] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && Int32(fields[1]) == parent
        }
    }

    func commandLine(_ pid: Int32) throws -> String {
        String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data(), as: UTF8.self)
    }
}
