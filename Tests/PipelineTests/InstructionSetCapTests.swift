import Layers
import Pipeline
import XCTest

/// MELFORGE_MAX_CPU_ISA's values: what each sets for oneDNN and OpenBLAS, and what is refused.
final class InstructionSetCapTests: XCTestCase {
    func testEachCapNamesItsLibrarySettings() throws {
        func settings(_ cap: String) -> [String: String]? {
            InstructionSetCap.settings(for: cap).map { Dictionary(uniqueKeysWithValues: $0) }
        }
        XCTAssertEqual(settings("avx2"), ["ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"])
        XCTAssertEqual(settings("AVX2"), settings("avx2"))
        XCTAssertEqual(settings("sse41"), ["ONEDNN_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Nehalem"])
        XCTAssertEqual(settings("avx512"), ["ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"])
        XCTAssertEqual(settings("avx512_core"), ["ONEDNN_MAX_CPU_ISA": "AVX512_CORE"])
        for bad in ["", "avx3", "neon", "x86-64-v3", String(repeating: "a", count: 100)] {
            XCTAssertNil(settings(bad), bad)
            XCTAssertFalse(KernelBuilds.isKnownCap(bad), bad)
        }
        // The kernels this process runs are never above its CPU's.
        let order = ["baseline (x86-64)", "avx2 (x86-64-v3)", "avx512 (x86-64-v4)"]
        XCTAssertLessThanOrEqual(order.firstIndex(of: KernelBuilds.running)!, order.firstIndex(of: KernelBuilds.cpu)!)
    }
}
