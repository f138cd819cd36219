import FileFormats
import Foundation
import XCTest

final class CompactJSONTests: XCTestCase {
    /// What a manifest line holds: the text is exact (keys sorted, one line), and Foundation's
    /// parser reads back the same values.
    func testManifestLikeRecordsReadBackTheSame() throws {
        let record: [String: Any] = [
            "source": "in/seven/a \"quoted\" \\ back/slash\tand\nnew line \u{01} é 語",
            "frames": 63, "duration": 0.9875, "sample_rate": 16000, "whole": 2.0, "tiny": 1e-7, "negative": -3.25,
            "label": "", "ok": true, "shape": [80, 63], "nested": ["b": "x", "a": [1.5, "y", false] as [Any]] as [String: Any],
        ]
        let text = try XCTUnwrap(CompactJSON.encode(record))
        XCTAssertFalse(text.contains("\n"))
        XCTAssertTrue(text.hasPrefix(#"{"duration":0.9875,"frames":63,"label":"","negative":-3.25,"nested":{"a":[1.5,"y",false],"b":"x"},"ok":true,"#), text)
        XCTAssertTrue(text.contains(#""whole":2}"#) || text.contains(#""whole":2,"#), text)
        let back = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(back["source"] as? String, record["source"] as? String)
        XCTAssertEqual(back["duration"] as? Double, 0.9875)
        XCTAssertEqual(back["tiny"] as? Double, 1e-7)
        XCTAssertEqual(back["frames"] as? Int, 63)
        XCTAssertEqual(back["shape"] as? [Int], [80, 63])
        XCTAssertEqual(back["ok"] as? Bool, true)
        XCTAssertEqual((back["nested"] as? [String: Any])?["b"] as? String, "x")
    }

    /// Values it does not know (and non-finite numbers, which JSON cannot hold) give nil, so
    /// the caller falls back to Foundation.
    func testUnknownValuesGiveNil() {
        XCTAssertNil(CompactJSON.encode(["x": Double.nan]))
        XCTAssertNil(CompactJSON.encode(["x": Float.infinity]))
        XCTAssertNil(CompactJSON.encode(["x": NSNumber(value: 3)]))
        XCTAssertNil(CompactJSON.encode(["x": Date()]))
        XCTAssertEqual(CompactJSON.encode(["x": Float(0.5)]), #"{"x":0.5}"#)
    }
}
