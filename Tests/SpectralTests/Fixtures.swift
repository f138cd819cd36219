import FileFormats
import Foundation
import XCTest

/// Reference arrays made by Scripts/make-fixtures.py with librosa (versions in each NAME.json).
enum Fixture {
    static let folder = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path

    static func path(_ name: String) -> String { folder + "/" + name }

    static func array(_ name: String) throws -> NumPyArray {
        try NPY.read(path(name + ".npy"))
    }
}

/// The 2-D fixture `name` and the same-shaped result of the code under test, compared
/// elementwise with `absolute` tolerance; reports `maxdiff`.
func assertMatchesFixture(
    _ name: String, rows: Int, columns: Int, values: [Float], absolute: Float,
    file: StaticString = #filePath, line: UInt = #line
) throws {
    let expected = try Fixture.array(name)
    XCTAssertEqual(expected.shape, [rows, columns], "shape of \(name)", file: file, line: line)
    guard expected.shape == [rows, columns] else { return }
    assertClose(values, expected.values, absolute: absolute, name, file: file, line: line)
}

import TestSupport
