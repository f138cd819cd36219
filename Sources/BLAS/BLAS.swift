import COpenBLAS

/// OpenBLAS, the one place MelForge multiplies large matrices.
public enum BLAS {
    /// `C = alpha * A * B + beta * C` for row-major float matrices:
    /// A is `[m, k]`, B is `[k, n]`, C is `[m, n]` (transposed operands when asked).
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        beta: Float = 0, c: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(transposeA ? m : k),
                    b, Int32(transposeB ? k : n), beta, c, Int32(n))
    }

    /// The compute kernel OpenBLAS chose for this CPU, e.g. "Haswell", "SkylakeX",
    /// or "Prescott" when it did not recognise the CPU and fell back to its slowest.
    public static var kernel: String { String(cString: openblas_get_corename()) }

    /// The threads OpenBLAS uses for one call. Setting it affects every later call in the
    /// process; callers that run several products at once on their own threads set it to 1
    /// so that the cores are not oversubscribed.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// OpenBLAS's build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY ...".
    public static var configuration: String { String(cString: openblas_get_config()) }
}
