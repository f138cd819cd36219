import Tensors
import XCTest

final class RandomNumbersTests: XCTestCase {
    func testSameSeedSameStreamAndResumable() {
        var a = RandomNumbers(seed: 5), b = RandomNumbers(seed: 5)
        XCTAssertEqual((0..<10).map { _ in a.next() }, (0..<10).map { _ in b.next() })
        // The stored state continues the same stream.
        var resumed = RandomNumbers(state: a.state)!
        XCTAssertEqual((0..<10).map { _ in a.next() }, (0..<10).map { _ in resumed.next() })
        XCTAssertNotEqual(RandomNumbers(seed: 6).state, RandomNumbers(seed: 5).state)
        XCTAssertNil(RandomNumbers(state: [0, 0, 0, 0]))
    }

    func testDistributionsHaveTheirMoments() {
        var random = RandomNumbers(seed: 11)
        let normal = random.normal([100_000], mean: 2, deviation: 3).values
        let mean = normal.reduce(0, +) / Float(normal.count)
        let variance = normal.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(normal.count)
        XCTAssertEqual(mean, 2, accuracy: 0.05)
        XCTAssertEqual(variance.squareRoot(), 3, accuracy: 0.05)
        let uniform = random.uniform([100_000], low: -1, high: 1).values
        XCTAssertTrue(uniform.allSatisfy { $0 >= -1 && $0 < 1 })
        XCTAssertEqual(uniform.reduce(0, +) / Float(uniform.count), 0, accuracy: 0.01)
    }

    func testTensorBasics() {
        var t = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        t.add(Tensor(shape: [2, 3], repeating: 1))
        XCTAssertEqual(t.values, [2, 3, 4, 5, 6, 7])
        XCTAssertEqual(t.reshaped([3, 2]).shape, [3, 2])
        t.zero()
        XCTAssertEqual(t.squaredNorm, 0)
    }
}

final class ShuffleTests: XCTestCase {
    /// The permutation is fixed by the state: runs resumed on another machine see the same batches.
    func testShuffleIsAFixedPermutationOfTheState() {
        var a = RandomNumbers(seed: 4), b = RandomNumbers(seed: 4)
        var x = Array(0..<50), y = Array(0..<50)
        a.shuffle(&x)
        b.shuffle(&y)
        XCTAssertEqual(x, y)
        XCTAssertEqual(x.sorted(), Array(0..<50))
        XCTAssertNotEqual(x, Array(0..<50))
        // Fisher-Yates from the end with next() mod (i + 1), spelled out for three elements.
        var c = RandomNumbers(seed: 9), reference = RandomNumbers(seed: 9)
        var z = ["a", "b", "c"]
        c.shuffle(&z)
        var expected = ["a", "b", "c"]
        expected.swapAt(2, Int(reference.next() % 3))
        expected.swapAt(1, Int(reference.next() % 2))
        XCTAssertEqual(z, expected)
    }

    /// Whole numbers and runs (masks) are fixed by the state too, spelled out; nothing is drawn
    /// for an empty range.
    func testIntegersAndRunsAreFixedByTheState() {
        var a = RandomNumbers(seed: 11), reference = RandomNumbers(seed: 11)
        XCTAssertEqual(a.integer(upTo: 0), 0)
        XCTAssertEqual(a, reference)
        XCTAssertEqual(a.integer(upTo: 6), Int(reference.next() % 7))
        let run = a.run(maxLength: 8, within: 20)
        let length = Int(reference.next() % 9)
        let start = Int(reference.next() % UInt64(20 - length + 1))
        XCTAssertEqual(run, start..<(start + length))
        var b = RandomNumbers(seed: 3)
        for _ in 0..<500 {
            let r = b.run(maxLength: 8, within: 5)
            XCTAssertTrue(r.lowerBound >= 0 && r.upperBound <= 5 && r.count <= 8)
        }
    }
}
