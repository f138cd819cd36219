import XCTest

/// Fails unless `actual` and `expected` have the same count and every pair differs by at
/// most `absolute + relative * |expected|`; the message gives the worst index and `maxdiff`.
public func assertClose(
    _ actual: [Float], _ expected: [Float], absolute: Float, relative: Float = 0,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    guard actual.count == expected.count else {
        XCTFail("count \(actual.count) != expected \(expected.count). \(message())", file: file, line: line)
        return
    }
    var worst = -1
    var worstExcess: Float = 0
    var maxDiff: Float = 0
    for i in actual.indices {
        let diff = abs(actual[i] - expected[i])
        if !(diff.isFinite || actual[i] == expected[i]) {
            XCTFail("value \(i) is \(actual[i]), expected \(expected[i]). \(message())", file: file, line: line)
            return
        }
        maxDiff = max(maxDiff, diff)
        let excess = diff - (absolute + relative * abs(expected[i]))
        if excess > worstExcess { worstExcess = excess; worst = i }
    }
    if worst >= 0 {
        XCTFail("value \(worst): \(actual[worst]) vs expected \(expected[worst]) (maxdiff \(maxDiff), "
                + "tolerance \(absolute) + \(relative)*|expected|). \(message())", file: file, line: line)
    }
}

/// The largest |a - b| over two arrays of equal count.
public func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// A fresh empty folder under the system's temporary folder, removed when the test ends.
public func makeTemporaryFolder(_ testCase: XCTestCase, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let path = NSTemporaryDirectory() + "melforge-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// The files in `folder`, hidden ones included, sorted.
public func listFolder(_ folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
}

/// The repository's top folder (for the bundled `Audio/` clips).
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/TestSupport/Assertions.swift
    return url.path
}()

/// A seeded generator so that every run of a test sees the same "random" data.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    /// SplitMix64.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// `count` samples of a reproducible test signal: two tones and a little noise.
public func testSignal(count: Int, sampleRate: Float = 16_000, seed: UInt64 = 1) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { n in
        let t = Float(n) / sampleRate
        return 0.5 * sin(2 * .pi * 440 * t) + 0.25 * sin(2 * .pi * 1_234.5 * t)
            + 0.05 * Float.random(in: -1...1, using: &generator)
    }
}
