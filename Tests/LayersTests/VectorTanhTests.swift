import Foundation
@testable import Layers
import XCTest

/// The vectorised tanh (the generator's output activation) against glibc's tanhf.
final class VectorTanhTests: XCTestCase {
    /// Within 2 ulp of tanhf over [-12, 12] (every 2^-14, and around 0.625 where it changes
    /// formula, and tiny values); exact at 0, -0 and where tanh is +-1 in Float; NaN stays NaN.
    func testWithinTwoUlpOfTanhf() {
        var inputs = stride(from: Float(-12), through: 12, by: 1.0 / 16_384).map { $0 }
        inputs += (-200...200).map { 0.625 + Float($0) * Float(0.625).ulp }
        inputs += [1e-30, -1e-30, 1e-7, Float.leastNormalMagnitude, 20, 100, 1e30, .infinity]
        let values = vectorTanh(inputs)
        var worst: (ulps: Float, x: Float) = (0, 0)
        for (x, y) in zip(inputs, values) {
            let reference = Foundation.tanh(x)
            let ulps = abs(y - reference) / max(reference.magnitude.ulp, Float.leastNormalMagnitude)
            if ulps > worst.ulps { worst = (ulps, x) }
        }
        XCTAssertLessThanOrEqual(worst.ulps, 2, "tanh(\(worst.x))")
        XCTAssertEqual(vectorTanh([0, -0.0, 9.5, -9.5, 50, -.infinity]), [0, -0.0, 1, -1, 1, -1])
        XCTAssertEqual(vectorTanh([0]).first?.sign, .plus)
        XCTAssertEqual(vectorTanh([-0.0]).first?.sign, .minus)
        XCTAssertTrue(vectorTanh([.nan, 1, .nan])[0].isNaN)
    }

    /// A row's last values (fewer than sixteen) get the same arithmetic as the rest, and a
    /// large array shared among the workers the same values as one done alone.
    func testEveryPositionGetsTheSameArithmetic() {
        let x = (0..<40_003).map { Float($0 % 97) * 0.03 - 1.4 }
        let whole = vectorTanh(x)
        for i in [0, 15, 16, 31, 39_999, 40_002] {
            XCTAssertEqual(whole[i], vectorTanh(x[i]), "at \(i)")
        }
    }
}
