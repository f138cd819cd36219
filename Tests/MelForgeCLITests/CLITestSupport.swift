import FileFormats
import Foundation
import TestSupport
import XCTest

/// The result of running the built `melforge` binary.
struct CommandResult {
    var status: Int32
    var standardOutput: String
    var standardError: String
}

/// The `melforge` executable SwiftPM built beside this test bundle.
let melforgeBinary: String = {
    let folder = Bundle.main.bundleURL.path.hasSuffix(".xctest")
        ? Bundle.main.bundleURL.deletingLastPathComponent() : Bundle.main.bundleURL
    return folder.appendingPathComponent("melforge").path
}()

/// `count` MNIST-format (IDX) images of `size` x `size`: a bright bar whose position depends on
/// the image, written to `path` (the tiny training set of the train tests).
func writeBarImages(to path: String, count: Int = 16, size: Int = 28) throws {
    var bytes: [UInt8] = [0, 0, 0x08, 3, 0, 0, 0, UInt8(count), 0, 0, 0, UInt8(size), 0, 0, 0, UInt8(size)]
    let offset = size == 28 ? 6 : 0
    for n in 0..<count { for y in 0..<size { for x in 0..<size { bytes.append(abs(x - n - offset) < 2 || y == n + offset ? 255 : 0) } } }
    try AtomicFile.write(bytes, to: path)
}

/// Runs `melforge arguments...` to completion with no standard input.
/// `environment` entries are added to `replacing` (by default this process's environment).
func runMelforge(_ arguments: [String], environment: [String: String] = [:],
                 replacing base: [String: String] = ProcessInfo.processInfo.environment) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: melforgeBinary)
    process.arguments = arguments
    process.environment = base.merging(environment) { $1 }
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Drain both pipes before waiting so a chatty process cannot block on a full pipe.
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    let errData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus,
                         standardOutput: String(decoding: outData, as: UTF8.self),
                         standardError: String(decoding: errData, as: UTF8.self))
}

/// Runs Scripts/check-page.sh on a synthesize folder (in headless Chromium: a player per sound,
/// and every sound and picture decodes); fails the test unless it passes, and returns its
/// report. Skips where Chromium is missing, outside CI.
func checkPageInBrowser(_ folder: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let check = Process()
    check.executableURL = URL(fileURLWithPath: repositoryRoot + "/Scripts/check-page.sh")
    check.arguments = [folder]
    let report = Pipe()
    (check.standardOutput, check.standardError) = (report, report)
    try check.run()
    let text = String(decoding: report.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    check.waitUntilExit()
    if text.contains("Chromium is not installed") && ProcessInfo.processInfo.environment["CI"] == nil {
        throw XCTSkip("Chromium is not installed (Scripts/test.sh installs it)")
    }
    XCTAssertEqual(check.terminationStatus, 0, text, file: file, line: line)
    return text
}
