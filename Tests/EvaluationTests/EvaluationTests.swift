import Foundation
import TestSupport
import XCTest

@testable import Evaluation

final class GenerativeScoreTests: XCTestCase {
    /// Probabilities `[N, K]` with all mass on each row's label.
    func oneHot(_ labels: [Int], classes k: Int) -> [Float] {
        labels.flatMap { label in (0..<k).map { $0 == label ? Float(1) : 0 } }
    }

    func testInceptionScoreIsTheClassCountForConfidentEvenPredictions() {
        // 10 splits of 4 rows, each split holding one row of each of the 4 classes.
        let labels = (0..<40).map { $0 % 4 }
        let score = inceptionScore(probabilities: oneHot(labels, classes: 4), classes: 4, splits: 10)
        XCTAssertEqual(score.mean, 4, accuracy: 1e-9)
        XCTAssertEqual(score.std, 0, accuracy: 1e-9)
    }

    func testInceptionScoreIsOneForOneLabelOrForUncertainty() {
        let same = inceptionScore(probabilities: oneHot([Int](repeating: 2, count: 30), classes: 4), classes: 4)
        XCTAssertEqual(same.mean, 1, accuracy: 1e-9)
        let uniform = inceptionScore(probabilities: [Float](repeating: 0.25, count: 120), classes: 4)
        XCTAssertEqual(uniform.mean, 1, accuracy: 1e-6)
    }

    func testInceptionScoreOfTwoSplitsByHand() {
        // Split 1: rows (0.9, 0.1), (0.1, 0.9): p(y) = (0.5, 0.5), KL = 0.9 ln 1.8 + 0.1 ln 0.2 each.
        // Split 2: both rows (0.5, 0.5): KL = 0, score 1.
        let p: [Float] = [0.9, 0.1, 0.1, 0.9, 0.5, 0.5, 0.5, 0.5]
        let kl = 0.9 * log(1.8) + 0.1 * log(0.2)
        let score = inceptionScore(probabilities: p, classes: 2, splits: 2)
        XCTAssertEqual(score.mean, (exp(kl) + 1) / 2, accuracy: 1e-6)
        XCTAssertEqual(score.std, (exp(kl) - 1) / 2, accuracy: 1e-6)
    }

    func testLabelDistributionCountsAndEntropy() {
        let even = labelDistribution(probabilities: oneHot([0, 1, 2, 3, 0, 1, 2, 3], classes: 4), classes: 4)
        XCTAssertEqual(even.counts, [2, 2, 2, 2])
        XCTAssertEqual(even.entropyBits, 2, accuracy: 1e-12)
        let skewed = labelDistribution(probabilities: [0.2, 0.8, 0.6, 0.4, 0.1, 0.9, 0.3, 0.7], classes: 2)
        XCTAssertEqual(skewed.counts, [1, 3])
        XCTAssertEqual(skewed.entropyBits, -(0.25 * log2(0.25) + 0.75 * log2(0.75)), accuracy: 1e-12)
        XCTAssertEqual(labelDistribution(probabilities: oneHot([1, 1, 1], classes: 3), classes: 3).entropyBits, 0)
    }

    func testMostProbableClassesTakeTheFirstOfEquals() {
        XCTAssertEqual(mostProbableClasses(probabilities: [0.2, 0.8, 0.6, 0.4, 0.5, 0.5], classes: 2), [1, 0, 0])
        XCTAssertEqual(mostProbableClasses(probabilities: [0.1, 0.3, 0.6, 0.3, 0.3, 0.4], classes: 3), [2, 2])
    }

    /// `n` rows of `d` correlated values (a random linear mix of normals plus an offset).
    func correlatedSample(n: Int, d: Int, seed: UInt64) -> [Float] {
        var state = seed
        func uniform() -> Double {  // a small LCG: the test must not depend on the core's generator
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) + 0.5) / Double(1 << 53)
        }
        func normal() -> Double { (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) }
        let mix = (0..<(d * d)).map { _ in normal() }
        return (0..<n).flatMap { _ -> [Float] in
            let e = (0..<d).map { _ in normal() }
            return (0..<d).map { i in Float((0..<d).reduce(0.0) { $0 + mix[i * d + $1] * e[$1] } + Double(i)) }
        }
    }

    func testFrechetDistanceClosedForms() {
        let d = 5
        let a = correlatedSample(n: 400, d: d, seed: 7)
        XCTAssertEqual(frechetDistance(a, a, dimension: d), 0, accuracy: 1e-6 * a.map { Double($0 * $0) }.reduce(0, +) / 400)
        // A shift by c: the covariances agree, the distance is |c|^2.
        let shift: [Float] = [1, -2, 0.5, 0, 3]
        let shifted = a.enumerated().map { $0.element + shift[$0.offset % d] }
        XCTAssertEqual(frechetDistance(a, shifted, dimension: d), 1 + 4 + 0.25 + 9, accuracy: 1e-6)
        // b = 2a: mean 2m, covariance 4S; tr(S + 4S - 2 (4 S^2)^(1/2)) = tr S, so FD = |m|^2 + tr S.
        let (mean, covariance) = gaussian(a, dimension: d)
        let expected = mean.reduce(0) { $0 + $1 * $1 } + (0..<d).reduce(0) { $0 + covariance[$1 * d + $1] }
        XCTAssertEqual(frechetDistance(a, a.map { 2 * $0 }, dimension: d), expected, accuracy: 1e-6 * expected)
        // Symmetric, although the computation treats its arguments differently.
        let b = correlatedSample(n: 300, d: d, seed: 8)
        XCTAssertEqual(frechetDistance(a, b, dimension: d), frechetDistance(b, a, dimension: d),
                       accuracy: 1e-6 * frechetDistance(a, b, dimension: d))
    }

    func testFrechetDistanceInOneDimension() {
        // (m1 - m2)^2 + (s1 - s2)^2 with sample deviations.
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [0, 10, 20]
        let (s1, s2) = ((5.0 / 3).squareRoot(), 10.0)
        XCTAssertEqual(frechetDistance(a, b, dimension: 1), (2.5 - 10) * (2.5 - 10) + (s1 - s2) * (s1 - s2), accuracy: 1e-9)
    }

    func testSymmetricEigenDecomposes() {
        let d = 6
        var matrix = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in i..<d { matrix[i * d + j] = sin(Double(3 * i + 7 * j + 1)); matrix[j * d + i] = matrix[i * d + j] } }
        let eigen = SymmetricEigen(matrix, dimension: d)
        let rebuilt = eigen.function { $0 }
        for i in 0..<(d * d) { XCTAssertEqual(rebuilt[i], matrix[i], accuracy: 1e-12) }
        for p in 0..<d {
            for q in 0..<d {  // V^T V = I
                let dot = (0..<d).reduce(0.0) { $0 + eigen.vectors[$1 * d + p] * eigen.vectors[$1 * d + q] }
                XCTAssertEqual(dot, p == q ? 1 : 0, accuracy: 1e-12)
            }
        }
        // Trace and determinant-free check: the sum of eigenvalues is the trace.
        XCTAssertEqual(eigen.values.reduce(0, +), (0..<d).reduce(0) { $0 + matrix[$1 * d + $1] }, accuracy: 1e-12)
    }

    func testNearestNeighbourDistances() {
        // Points 0, 1, 3 on a line in 2-D.
        let points: [Float] = [0, 0, 1, 0, 3, 0]
        XCTAssertEqual(nearestNeighbourDistances(points, points, dimension: 2, excludingSelf: true), [1, 1, 2])
        XCTAssertEqual(nearestNeighbourDistances(points, points, dimension: 2), [0, 0, 0])
        let references: [Float] = [0, 4, 3, 4]
        XCTAssertEqual(nearestNeighbourDistances(points, references, dimension: 2), [4, Float(17).squareRoot(), 4])
        // Far from the origin, where |q|^2 + |r|^2 - 2 q.r in floats loses the small differences.
        let far = (0..<4096).map { Float(1000 + $0 % 7) }
        var near = far
        near[5] += 0.01
        XCTAssertEqual(nearestNeighbourDistances(far + near, far, dimension: 4096)[0], 0)
        XCTAssertEqual(nearestNeighbourDistances(far + near, far, dimension: 4096)[1], 0.01, accuracy: 1e-5)
        // More queries than one block (256) of the product.
        let many = (0..<600).flatMap { i -> [Float] in [Float(i), 0] }
        XCTAssertEqual(nearestNeighbourDistances(many, many, dimension: 2, excludingSelf: true), [Float](repeating: 1, count: 600))
    }
}
