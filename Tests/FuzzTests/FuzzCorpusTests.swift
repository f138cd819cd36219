import Foundation
import FuzzTargets
import TestSupport
import XCTest

/// Every fuzz target on its seed corpus and on every input a fuzzer found a problem with
/// (Fuzz/corpus/TARGET, Fuzz/regressions/TARGET): each is parsed or refused with an error,
/// never a crash (which would end this test process). The fuzzing itself is Scripts/fuzz.sh.
final class FuzzCorpusTests: XCTestCase {
    func testEveryTargetHasSeedsAndRunsThemAndItsRegressions() throws {
        for (name, parse) in FuzzTargets.all {
            let seeds = files(in: repositoryRoot + "/Fuzz/corpus/" + name)
            XCTAssertFalse(seeds.isEmpty, "\(name): no seed corpus in Fuzz/corpus/\(name)")
            for path in seeds + files(in: repositoryRoot + "/Fuzz/regressions/" + name) {
                parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
            }
        }
    }

    /// The gzip a target wraps its bytes in is a valid one: the IDX reader inflates it back.
    func testGzipWrappingIsValid() throws {
        let folder = try makeTemporaryFolder(self)
        let idx: [UInt8] = [0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]
        try Data(FuzzTargets.gzippedForTesting(idx)).write(to: URL(fileURLWithPath: folder + "/labels.gz"))
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/bin/sh")
        check.arguments = ["-c", "gzip -dc '\(folder)/labels.gz' | od -An -tu1"]
        let pipe = Pipe()
        check.standardOutput = pipe
        try check.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        check.waitUntilExit()
        XCTAssertEqual(check.terminationStatus, 0)
        XCTAssertEqual(text.split(whereSeparator: \.isWhitespace).compactMap { UInt8($0) }, idx)
    }

    func files(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
            .map { folder + "/" + $0 }
    }
}
