import Foundation
import Spectral
import XCTest

final class SpectralDistanceTests: XCTestCase {
    func testIdenticalAndDoubledMagnitudes() {
        let reference: [Float] = (0..<24).map { Float(1 + $0 % 5) }
        XCTAssertEqual(spectralConvergence(reference: reference, estimate: reference), 0)
        XCTAssertEqual(logSpectralDistance(reference: reference, estimate: reference, bins: 4, frames: 6), 0)
        let doubled = reference.map { 2 * $0 }
        XCTAssertEqual(spectralConvergence(reference: reference, estimate: doubled), 1, accuracy: 1e-12)
        XCTAssertEqual(logSpectralDistance(reference: reference, estimate: doubled, bins: 4, frames: 6), 20 * log10(2), accuracy: 1e-9)
        XCTAssertEqual(spectralConvergence(reference: reference, estimate: [Float](repeating: 0, count: 24)), 1)
    }

    func testLogSpectralDistanceAveragesFramesOfRootMeanSquares() {
        // Frame 0: bins differ by 20 dB and 0 dB -> sqrt((400 + 0) / 2); frame 1: identical.
        let reference: [Float] = [10, 1, 1, 1], estimate: [Float] = [1, 1, 1, 1]
        XCTAssertEqual(logSpectralDistance(reference: reference, estimate: estimate, bins: 2, frames: 2),
                       (200.0).squareRoot() / 2, accuracy: 1e-9)
        // Silence on both sides is no distance.
        XCTAssertEqual(logSpectralDistance(reference: [0, 0], estimate: [0, 0], bins: 2, frames: 1), 0)
    }
}
