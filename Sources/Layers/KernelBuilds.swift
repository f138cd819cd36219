import CLayerKernels

/// Which build of MelForge's own C kernels (the layers' elementwise loops, oneDNN-layout bias
/// and rectifier passes) this process runs: the CPU's widest, unless `MELFORGE_MAX_CPU_ISA`
/// (or, when that is unset, oneDNN's `ONEDNN_MAX_CPU_ISA`) caps it, so that a whole process can
/// be run as an AVX2 or SSE4.1 machine would run it.
public enum KernelBuilds {
    /// "avx512 (x86-64-v4)", "avx2 (x86-64-v3)" or "baseline (x86-64)".
    public static var running: String { name(Int(mf_isa_level())) }

    /// The CPU's own widest build, uncapped.
    public static var cpu: String { name(Int(mf_isa_cpu_level())) }

    /// Whether `setting` names a cap the kernels understand ("avx2", "AVX512_CORE", "sse41", ...).
    public static func isKnownCap(_ setting: String) -> Bool { mf_isa_cap(setting) >= 0 }

    private static func name(_ level: Int) -> String {
        ["baseline (x86-64)", "avx2 (x86-64-v3)", "avx512 (x86-64-v4)"][max(0, min(2, level))]
    }
}
