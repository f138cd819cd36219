import Pipeline
import XCTest

/// Labels and speakers from a corpus's layout or from patterns, on made-up paths of each public
/// layout (and files that match nothing, which are skipped, not mislabelled); the speaker
/// split keeps every speaker on one side.
final class ClipNamingTests: XCTestCase {
    func testEachLayoutGivesLabelsAndSpeakers() throws {
        let cases: [(ClipNaming.Layout, [(String, String?, String?)])] = [
            (.folders, [("seven/en-us_s165.wav", "seven", nil), ("a/b/clip.flac", "b", nil), ("flat.wav", "", nil)]),
            (.speechCommands, [("yes/0a7c2a8d_nohash_0.wav", "yes", "0a7c2a8d"), ("data/no/b1_nohash_12.wav", "no", "b1"),
                               ("yes/0a7c2a8d_0.wav", nil, nil), ("_background_noise_/white_noise.wav", nil, nil)]),
            (.fsdd, [("7_jackson_32.wav", "7", "jackson"), ("recordings/0_george_0.wav", "0", "george"),
                     ("README.wav", nil, nil), ("7_jackson.wav", nil, nil)]),
            (.vctk, [("p225/p225_001.wav", "", "p225"), ("wav48/p226/p226_366.flac", "", "p226"), ("flat.wav", nil, nil)]),
        ]
        for (layout, paths) in cases {
            let naming = try ClipNaming(layout: layout)
            XCTAssertEqual(naming.hasSpeakers, layout != .folders, layout.rawValue)
            XCTAssertEqual(naming.hasLabels, layout != .vctk, layout.rawValue)
            for (path, label, speaker) in paths {
                let described = naming.describe(path)
                if let label {
                    XCTAssertEqual(described?.label, label, "\(layout.rawValue): \(path)")
                    XCTAssertEqual(described?.speaker, speaker, "\(layout.rawValue): \(path)")
                } else {
                    XCTAssertNil(described, "\(layout.rawValue): \(path) should match nothing")
                    XCTAssertTrue(naming.mismatch(path).contains(path) && naming.mismatch(path).contains("skipped"))
                }
            }
        }
    }

    /// A pattern's named group, else its first group; a pattern replaces that part of a layout;
    /// a bad expression is refused naming its flag.
    func testPatternsTakeANamedOrTheFirstGroup() throws {
        let named = try ClipNaming(layout: nil, labelPattern: #"(?<speaker>[a-z]+)-(?<label>\d)\.wav$"#,
                                   speakerPattern: #"(?<speaker>[a-z]+)-\d\.wav$"#)
        XCTAssertEqual(named.describe("x/anna-3.wav")?.label, "3")
        XCTAssertEqual(named.describe("x/anna-3.wav")?.speaker, "anna")
        XCTAssertNil(named.describe("x/anna-33.wav"))
        let first = try ClipNaming(layout: .fsdd, labelPattern: #"^([a-z]+)/"#)
        XCTAssertEqual(first.describe("cats/1_bob_2.wav")?.label, "cats")
        XCTAssertEqual(first.describe("cats/1_bob_2.wav")?.speaker, "bob")
        XCTAssertThrowsError(try ClipNaming(layout: nil, labelPattern: "([a-z")) { error in
            XCTAssertTrue("\(error)".contains("--label-pattern '([a-z'"), "\(error)")
        }
        XCTAssertEqual(ClipNaming.folders.describe("two/x.wav")?.label, "two")
    }

    func testSpeakerSplitKeepsEverySpeakerOnOneSide() {
        let speakers = (0..<300).map { "s\($0 % 6)" } + (0..<40).map { "t\($0 % 2)" }
        for seed in [UInt64(0), 1, 2] {
            let heldOut = SpeakerSplit.heldOut(speakers: speakers, fraction: 0.25, seed: seed)
            XCTAssertFalse(heldOut.isEmpty)
            XCTAssertLessThan(heldOut.count, Set(speakers).count, "never every speaker")
            let share = Double(speakers.filter(heldOut.contains).count) / Double(speakers.count)
            XCTAssertGreaterThanOrEqual(share, 0.25, "seed \(seed)")
            XCTAssertEqual(SpeakerSplit.heldOut(speakers: speakers.reversed(), fraction: 0.25, seed: seed), heldOut,
                           "the same split whatever the order of the files")
        }
        XCTAssertEqual(SpeakerSplit.heldOut(speakers: ["a", "a"], fraction: 0.5, seed: 0), [], "one speaker: nothing to hold out")
        XCTAssertEqual(SpeakerSplit.heldOut(speakers: ["a", "b"], fraction: 0, seed: 0), [])
    }
}
