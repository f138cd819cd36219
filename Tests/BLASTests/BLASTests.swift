import Foundation
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

final class KernelChoiceTests: XCTestCase {
    let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]
    let avx2: Set<String> = ["sse3", "avx", "avx2", "fma"]

    func testFallbackKernelIsReplacedByWhatTheCPUCanRun() {
        // The measured case: OpenBLAS 0.3.21 on an unrecognised AVX-512 CPU picks Prescott.
        XCTAssertEqual(KernelChoice.recommendation(currentKernel: "Prescott", cpuFlags: avx512, userSetting: nil), "SkylakeX")
        XCTAssertEqual(KernelChoice.recommendation(currentKernel: "Prescott", cpuFlags: avx2, userSetting: nil), "Haswell")
        XCTAssertEqual(KernelChoice.recommendation(currentKernel: "Sandybridge", cpuFlags: avx2, userSetting: ""), "Haswell")
    }

    func testLeavesGoodKernelsUnknownKernelsAndUserSettingsAlone() {
        XCTAssertNil(KernelChoice.recommendation(currentKernel: "Cooperlake", cpuFlags: avx512, userSetting: nil))
        XCTAssertNil(KernelChoice.recommendation(currentKernel: "Haswell", cpuFlags: avx2, userSetting: nil))
        XCTAssertNil(KernelChoice.recommendation(currentKernel: "Prescott", cpuFlags: ["sse3"], userSetting: nil))
        XCTAssertNil(KernelChoice.recommendation(currentKernel: "Prescott", cpuFlags: avx512, userSetting: "Prescott"))
        XCTAssertNil(KernelChoice.recommendation(currentKernel: "SomethingNew", cpuFlags: avx512, userSetting: nil))
        // AVX-512 without all four subsets is not enough for the SkylakeX kernel.
        XCTAssertEqual(KernelChoice.level(ofCPUFlags: avx2.union(["avx512f"])), .avx2)
    }
}
