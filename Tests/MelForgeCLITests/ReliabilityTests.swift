import FileFormats
import Foundation
import TestSupport
import XCTest

/// What a long job owes its user when the world interferes: SIGTERM or SIGINT (preemption,
/// Ctrl-C) write a checkpoint at the step in hand and say how to resume; kill -9 at random
/// moments loses nothing a resume does not redo bit for bit; a full disk or a read-only folder
/// is named with its cause and leaves the previous checkpoint whole; a second writer on the
/// same output is refused while the first lives, and not after it dies.
final class ReliabilityTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
        try writeBarImages(to: images)
    }

    var images: String { folder + "/train-images-idx3-ubyte" }

    /// A tiny VAE on im2col (bit-reproducible), `steps` steps into `out`.
    func arguments(_ out: String, steps: Int, checkpointEvery: Int, resume: Bool = false) -> [String] {
        ["train", "vae", "--images", images, "--out", out, "--batch-size", "4", "--widths", "4,8", "--latent-size", "4",
         "--lr", "1e-3", "--checkpoint-every", String(checkpointEvery), "--seed", "5", "--engine", "im2col",
         "--steps", String(steps)] + (resume ? ["--resume"] : [])
    }

    /// Starts `melforge arguments...` without waiting; its output goes to files in the folder.
    func start(_ arguments: [String], name: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: melforgeBinary)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: folder + "/\(name).out", contents: nil)
        _ = FileManager.default.createFile(atPath: folder + "/\(name).err", contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: folder + "/\(name).out")
        process.standardError = FileHandle(forWritingAtPath: folder + "/\(name).err")
        try process.run()
        return process
    }

    func standardError(_ name: String) -> String {
        (try? String(contentsOfFile: folder + "/\(name).err", encoding: .utf8)) ?? ""
    }

    /// Waits (up to `seconds`) until `condition` holds.
    func wait(_ seconds: Double, until condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// The step a checkpoint was written at.
    func step(_ checkpoint: String) throws -> Int {
        Int(try SafeTensors.read(checkpoint).metadata["step"] ?? "") ?? -1
    }

    /// Every tensor of two checkpoints, bit for bit.
    func assertSameTensors(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (x, y) = (try SafeTensors.read(a), try SafeTensors.read(b))
        XCTAssertEqual(x.tensors.map(\.name), y.tensors.map(\.name), file: file, line: line)
        for (s, t) in zip(x.tensors, y.tensors) {
            XCTAssertEqual(s.values.map(\.bitPattern), t.values.map(\.bitPattern), s.name, file: file, line: line)
        }
        XCTAssertEqual(x.metadata["random_state"], y.metadata["random_state"], file: file, line: line)
    }

    /// No temporary file of an atomic write is left anywhere under `path`.
    func assertNoPartialFiles(_ path: String, file: StaticString = #filePath, line: UInt = #line) {
        let names = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
        XCTAssertEqual(names.filter { AtomicFile.isLeftover(fileName: ($0 as NSString).lastPathComponent) }, [],
                       file: file, line: line)
    }

    /// SIGTERM (and SIGINT) mid-run: a checkpoint at the step in hand, status 128 + the signal,
    /// a message that says how to resume; resumed to a later step the run equals an
    /// uninterrupted one bit for bit.
    func testPreemptionWritesACheckpointAndResumesTheSameRun() throws {
        for (signal, status) in [(SIGTERM, Int32(143)), (SIGINT, 130)] {
            let out = folder + "/preempted-\(signal)"
            let run = try start(arguments(out, steps: 100_000, checkpointEvery: 100_000), name: "run-\(signal)")
            // Training has begun once the lock names this process (the data is loaded by then).
            XCTAssertTrue(wait(30) { FileManager.default.fileExists(atPath: OutputLock.file(inFolder: out)) })
            usleep(500_000)
            kill(run.processIdentifier, signal)
            run.waitUntilExit()
            let message = standardError("run-\(signal)")
            XCTAssertEqual(run.terminationReason, .exit, message)
            XCTAssertEqual(run.terminationStatus, status, message)
            XCTAssertTrue(message.contains("stopped by SIG") && message.contains("--resume"), message)
            XCTAssertTrue(message.contains("received: stopping at the next safe point"), message)
            let stopped = try step(out + "/checkpoint.safetensors")
            XCTAssertGreaterThan(stopped, 0, message)
            XCTAssertLessThan(stopped, 100_000)
            assertNoPartialFiles(out)
            // Resumed a few steps further, it equals the run that was never stopped.
            let resumed = try runMelforge(arguments(out, steps: stopped + 3, checkpointEvery: 100_000, resume: true))
            XCTAssertEqual(resumed.status, 0, resumed.standardError)
            let whole = try runMelforge(arguments(folder + "/whole-\(signal)", steps: stopped + 3, checkpointEvery: 100_000))
            XCTAssertEqual(whole.status, 0, whole.standardError)
            try assertSameTensors(out + "/checkpoint.safetensors", folder + "/whole-\(signal)/checkpoint.safetensors")
        }
        // (A second signal ending the process at once: PreemptionTests.)
    }

    /// kill -9 at random moments, many of them inside a checkpoint write (one every step),
    /// then resumed each time: no file is partial, every checkpoint left loads, and the end
    /// equals an uninterrupted run bit for bit. (Scripts/kill-test.sh N kills many more times.)
    func testKilledAtRandomAndResumedEqualsAnUninterruptedRun() throws {
        let (out, steps) = (folder + "/killed", 250)
        var generator = SeededGenerator(seed: 11)
        var kills = 0
        for attempt in 0..<4 {
            let resume = FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors")
            let run = try start(arguments(out, steps: steps, checkpointEvery: 1, resume: resume), name: "kill-\(attempt)")
            _ = wait(30) { FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors") || !run.isRunning }
            usleep(UInt32.random(in: 20_000...250_000, using: &generator))
            if run.isRunning {
                kill(run.processIdentifier, SIGKILL)
                kills += 1
            }
            run.waitUntilExit()
            assertNoPartialFiles(out)
            if FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors") {
                XCTAssertNoThrow(try SafeTensors.read(out + "/checkpoint.safetensors"), "after kill \(attempt)")
            }
        }
        XCTAssertGreaterThan(kills, 0, "no run was killed: the runs finished too fast to test anything")
        let last = try runMelforge(arguments(out, steps: steps, checkpointEvery: 1,
                                             resume: FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors")))
        XCTAssertEqual(last.status, 0, last.standardError)
        let whole = try runMelforge(arguments(folder + "/uninterrupted", steps: steps, checkpointEvery: 1))
        XCTAssertEqual(whole.status, 0, whole.standardError)
        XCTAssertEqual(try step(out + "/checkpoint.safetensors"), steps)
        try assertSameTensors(out + "/checkpoint.safetensors", folder + "/uninterrupted/checkpoint.safetensors")
    }

    /// A second train on a folder whose run is still going is refused, naming the first
    /// process; once that one is gone (here by kill -9: the kernel drops its lock) the resume
    /// goes ahead. The same for two conversions into one folder.
    func testASecondWriterIsRefusedUntilTheFirstIsGone() throws {
        let out = folder + "/busy"
        let first = try start(arguments(out, steps: 100_000, checkpointEvery: 10), name: "first")
        XCTAssertTrue(wait(30) { FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors") })
        let second = try runMelforge(arguments(out, steps: 100_000, checkpointEvery: 10, resume: true))
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.standardError.contains("is being written by another melforge (pid \(first.processIdentifier)"),
                      second.standardError)
        XCTAssertTrue(second.standardError.contains("train vae"), second.standardError)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let stepBefore = try step(out + "/checkpoint.safetensors")
        let third = try runMelforge(arguments(out, steps: stepBefore + 2, checkpointEvery: 10, resume: true))
        XCTAssertEqual(third.status, 0, third.standardError)
        XCTAssertEqual(try step(out + "/checkpoint.safetensors"), stepBefore + 2)

        // Two conversions: the second is refused while the first holds the folder's lock.
        let lock = OutputLock.file(inFolder: folder + "/features", name: "melforge-convert")
        try FileManager.default.createDirectory(atPath: folder + "/features", withIntermediateDirectories: true)
        let holder = try start(["convert", repositoryRoot + "/Audio/digits", "-o", folder + "/features", "--jobs", "1"],
                               name: "convert")
        if wait(20, until: { (try? String(contentsOfFile: lock, encoding: .utf8))?.contains("convert") == true }), holder.isRunning {
            let refused = try runMelforge(["convert", repositoryRoot + "/Audio/digits", "-o", folder + "/features", "--resume"])
            if holder.isRunning || refused.status != 0 {
                XCTAssertNotEqual(refused.status, 0, refused.standardError)
                XCTAssertTrue(refused.standardError.contains("is being written by another melforge"), refused.standardError)
            }
        }
        holder.waitUntilExit()
        XCTAssertEqual(holder.terminationStatus, 0, standardError("convert"))
    }

    /// A small file system (a 2 MB tmpfs, as root) that fills up, then made read-only: the
    /// resumed run's checkpoint write fails with the path and the cause (ENOSPC, EROFS), no
    /// partial file is left, the previous checkpoint is unchanged and loads, the input is
    /// untouched. (Skipped where tmpfs cannot be mounted: not root, or no mount namespace.)
    func testFullDiskAndReadOnlyFolderKeepThePreviousCheckpoint() throws {
        let disk = folder + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        try XCTSkipUnless(shell("mount -t tmpfs -o size=2m tmpfs '\(disk)'") == 0, "cannot mount a tmpfs here (needs root)")
        defer { _ = shell("umount -l '\(disk)'") }
        let out = disk + "/run"
        let inputBefore = try Data(contentsOf: URL(fileURLWithPath: images))
        let first = try runMelforge(arguments(out, steps: 3, checkpointEvery: 3))
        XCTAssertEqual(first.status, 0, first.standardError)
        let checkpoint = out + "/checkpoint.safetensors"
        let saved = try Data(contentsOf: URL(fileURLWithPath: checkpoint))

        // Fill the disk, leaving less room than a checkpoint needs.
        _ = shell("dd if=/dev/zero of='\(disk)/filler' bs=4k 2>/dev/null")  // ends with ENOSPC
        XCTAssertEqual(shell("test $(df -k --output=avail '\(disk)' | tail -1) -lt 16"), 0, "the disk is not full")
        let full = try runMelforge(arguments(out, steps: 6, checkpointEvery: 3, resume: true))
        XCTAssertNotEqual(full.status, 0)
        XCTAssertTrue(full.standardError.contains(out) && full.standardError.contains("No space left on device"),
                      full.standardError)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), saved)
        XCTAssertEqual(try step(checkpoint), 3)
        assertNoPartialFiles(disk)

        // Read-only: refused with its own cause (already at the run's lock file, before any step).
        try FileManager.default.removeItem(atPath: disk + "/filler")
        XCTAssertEqual(shell("mount -o remount,ro '\(disk)'"), 0)
        let readOnly = try runMelforge(arguments(out, steps: 6, checkpointEvery: 3, resume: true))
        XCTAssertNotEqual(readOnly.status, 0)
        XCTAssertTrue(readOnly.standardError.contains(out) && readOnly.standardError.contains("Read-only file system"),
                      readOnly.standardError)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), saved)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: images)), inputBefore)
    }

    /// Runs a shell command; its status.
    func shell(_ command: String) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
