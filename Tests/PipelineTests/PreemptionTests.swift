import Foundation
import Pipeline
import XCTest

/// SIGTERM and SIGINT as `Preemption` handles them, in a child process (this test bundle run
/// again on `testChildWaitsForSignals`, which only waits when MELFORGE_SIGNAL_CHILD is set):
/// the first signal is recorded and announced, the job goes on to its safe point; a second ends
/// the process at once, by the signal itself. Released, the default actions are back.
final class PreemptionTests: XCTestCase {
    /// The child: catches the signals, says so, and waits (a job between two safe points)
    /// until it has seen one, then reports it and waits again for the second.
    func testChildWaitsForSignals() throws {
        guard ProcessInfo.processInfo.environment["MELFORGE_SIGNAL_CHILD"] != nil else { return }
        Preemption.catchSignals()
        say("child: catching")
        while Preemption.requested == nil { usleep(1_000) }
        say("child: requested \(Preemption.name(Preemption.requested!))")
        sleep(30)  // the second signal ends the process here
        say("child: still alive")
    }

    /// A line on standard output at once (unbuffered).
    func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    func testASecondSignalEndsTheProcessAtOnce() throws {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0])
        try XCTSkipUnless(bundle.path.hasSuffix(".xctest"), "not run from the test bundle: \(bundle.path)")
        for signal in [SIGTERM, SIGINT] {
            let child = Process()
            child.executableURL = bundle
            child.arguments = ["PipelineTests.PreemptionTests/testChildWaitsForSignals"]
            child.environment = ProcessInfo.processInfo.environment.merging(["MELFORGE_SIGNAL_CHILD": "1"]) { $1 }
            let (output, errors) = (Pipe(), Pipe())
            (child.standardOutput, child.standardError) = (output, errors)
            try child.run()
            var text = ""
            func readUntil(_ marker: String) {
                while !text.contains(marker) {
                    let data = output.fileHandleForReading.availableData
                    if data.isEmpty { return }
                    text += String(decoding: data, as: UTF8.self)
                }
            }
            readUntil("child: catching")
            kill(child.processIdentifier, signal)
            readUntil("child: requested")
            XCTAssertTrue(text.contains("child: requested \(Preemption.name(signal))"), text)
            kill(child.processIdentifier, signal)
            child.waitUntilExit()
            let announced = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(child.terminationReason, .uncaughtSignal, text)
            XCTAssertEqual(child.terminationStatus, signal, text)
            XCTAssertFalse(text.contains("still alive"), text)
            XCTAssertTrue(announced.contains("\(Preemption.name(signal)) received: stopping at the next safe point"), announced)
        }
    }

    func testPreemptedSaysWhatWasKeptAndHowToResume() {
        let stopped = Preempted(signal: SIGTERM, kept: "checkpoint at step 7 written to 'a'", resume: "run it with --resume")
        XCTAssertEqual(stopped.exitStatus, 143)
        XCTAssertEqual(stopped.description, "stopped by SIGTERM: checkpoint at step 7 written to 'a'; to continue, run it with --resume")
        XCTAssertEqual(Preempted(signal: SIGINT, kept: "", resume: "").exitStatus, 130)
        XCTAssertNil(Preemption.requested)
    }
}
