import Foundation

/// Picking OpenBLAS's compute kernel.
///
/// Debian's OpenBLAS 0.3.21 is built for many CPUs (DYNAMIC_ARCH) and picks a kernel from
/// the CPU's identity when it loads. On CPUs it does not know it falls back to its oldest
/// kernel, "Prescott" (SSE3): measured on this project's machines, 21 GFLOP/s for a 1536^2
/// sgemm where the SkylakeX kernel, forced with OPENBLAS_CORETYPE, ran 150 with correct
/// results. The kernel can only be chosen before the library initialises, that is through
/// the environment of a new process; `melforge` therefore checks at start-up and, when the
/// kernel is below what the CPU can run and the user has not set OPENBLAS_CORETYPE, starts
/// itself again with it set (once; `OPENBLAS_CORETYPE` set by the user is never changed).
public enum KernelChoice {
    /// Instruction-set levels, in order.
    public enum Level: Int, Comparable, Sendable {
        case sse = 1, avx, avx2, avx512

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        /// The OpenBLAS kernel that runs everywhere this level is available.
        public var kernel: String {
            switch self {
            case .sse: return "Prescott"
            case .avx: return "Sandybridge"
            case .avx2: return "Haswell"
            case .avx512: return "SkylakeX"
            }
        }
    }

    /// The level an OpenBLAS kernel needs (by `openblas_get_corename()`'s names); nil if unknown.
    public static func level(ofKernel name: String) -> Level? {
        switch name.lowercased() {
        case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "barcelona", "bobcat", "opteron",
             "opteron_sse3", "katmai", "coppermine", "northwood":
            return .sse
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator":
            return .avx
        case "haswell", "zen":
            return .avx2
        case "skylakex", "cooperlake", "sapphirerapids":
            return .avx512
        default:
            return nil
        }
    }

    /// The highest level the CPU supports, from the flags of /proc/cpuinfo.
    public static func level(ofCPUFlags flags: Set<String>) -> Level {
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains) { return .avx512 }
        if flags.contains("avx2") && flags.contains("fma") { return .avx2 }
        if flags.contains("avx") { return .avx }
        return .sse
    }

    /// The kernel to ask for, or nil to leave OpenBLAS's choice: only when its kernel is
    /// known and below what the CPU can run, and the user has not chosen one.
    public static func recommendation(currentKernel: String, cpuFlags: Set<String>, userSetting: String?) -> String? {
        guard userSetting == nil || userSetting!.isEmpty, let current = level(ofKernel: currentKernel) else { return nil }
        let cpu = level(ofCPUFlags: cpuFlags)
        return current < cpu ? cpu.kernel : nil
    }

    /// The CPU's flags from /proc/cpuinfo (empty where there is none).
    public static func cpuFlags() -> Set<String> {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// Environment variable set on the restarted process, so it does not restart again.
    public static let restartMarker = "MELFORGE_BLAS_KERNEL_CHOSEN"
}
