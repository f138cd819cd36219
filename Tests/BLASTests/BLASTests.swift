import BLAS
import TestSupport
import XCTest

final class BLASTests: XCTestCase {
    func testSgemmAgainstNaiveProduct() {
        var generator = SeededGenerator(seed: 11)
        let (m, n, k) = (7, 5, 9)
        let a = (0..<m * k).map { _ in Float.random(in: -1...1, using: &generator) }
        let b = (0..<k * n).map { _ in Float.random(in: -1...1, using: &generator) }
        var expected = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { expected[i * n + j] += a[i * k + p] * b[p * n + j] } } }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.sgemm(m: m, n: n, k: k, a: a, b: b, c: &c)
        assertClose(c, expected, absolute: 1e-5)

        // Aᵀ stored as [k, m], Bᵀ as [n, k]; beta = 1 accumulates onto C.
        var at = [Float](repeating: 0, count: k * m), bt = [Float](repeating: 0, count: n * k)
        for i in 0..<m { for p in 0..<k { at[p * m + i] = a[i * k + p] } }
        for p in 0..<k { for j in 0..<n { bt[j * k + p] = b[p * n + j] } }
        BLAS.sgemm(transposeA: true, transposeB: true, m: m, n: n, k: k, a: at, b: bt, beta: 1, c: &c)
        assertClose(c, expected.map { 2 * $0 }, absolute: 1e-5)
    }

    func testKernelIsReported() {
        XCTAssertFalse(BLAS.kernel.isEmpty)
        XCTAssertGreaterThanOrEqual(BLAS.threads, 1)
    }
}
