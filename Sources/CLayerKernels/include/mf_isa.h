// Which build of a hot loop runs: MelForge's C kernels are compiled for baseline x86-64,
// x86-64-v3 (AVX2 + FMA) and x86-64-v4 (AVX-512), and one is picked at its first call from the
// CPU's instruction sets, capped by the environment, so that a whole process can run as an
// older CPU would (with oneDNN's ONEDNN_MAX_CPU_ISA and OpenBLAS's OPENBLAS_CORETYPE).
#ifndef MELFORGE_ISA_H
#define MELFORGE_ISA_H

/// The widest kernel build this process runs: 2 x86-64-v4 (AVX-512 F/BW/CD/DQ/VL), 1 x86-64-v3
/// (AVX2, FMA), 0 baseline x86-64. The CPU's, capped by MELFORGE_MAX_CPU_ISA or, when that is
/// unset, ONEDNN_MAX_CPU_ISA (`mf_isa_cap`). Read once.
int mf_isa_level(void);

/// The cap a setting names: 0 for "sse41" (or "sse2", "baseline"), 1 for "avx2" (or "avx", whose
/// builds are baseline ones: 0), 2 for "avx512" and anything naming AVX-512 or AMX ("all"
/// too), -1 for anything else (no cap). Case-insensitive; oneDNN's names are accepted.
int mf_isa_cap(const char *setting);

/// The CPU's own level, uncapped.
int mf_isa_cpu_level(void);

#if defined(__x86_64__) && defined(__clang__)
#define MF_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#define MF_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#else
#define MF_TARGET_V4
#define MF_TARGET_V3
#endif

/// A kernel's body, written once and inlined into each build.
#define MF_KERNEL_BODY static inline __attribute__((always_inline))

/// The three builds of `name`'s body (`name##_body`, MF_KERNEL_BODY) and `name` itself, which
/// calls the build `mf_isa_level` picks. `linkage`: `static` or empty; `params` and `args` in
/// parentheses. MF_KERNEL_VOID for a body that returns nothing.
#define MF_KERNEL(linkage, type, name, params, args)                                                   \
    MF_TARGET_V4 static type name##_v4 params { return name##_body args; }                            \
    MF_TARGET_V3 static type name##_v3 params { return name##_body args; }                            \
    static type name##_v0 params { return name##_body args; }                                         \
    linkage type name params {                                                                        \
        static type(*chosen) params;                                                                  \
        type(*f) params = __atomic_load_n(&chosen, __ATOMIC_RELAXED);                                 \
        if (!f) {                                                                                     \
            int level = mf_isa_level();                                                               \
            f = level >= 2 ? name##_v4 : level == 1 ? name##_v3 : name##_v0;                          \
            __atomic_store_n(&chosen, f, __ATOMIC_RELAXED);                                           \
        }                                                                                             \
        return f args;                                                                                \
    }

#define MF_KERNEL_VOID(linkage, name, params, args)                                                    \
    MF_TARGET_V4 static void name##_v4 params { name##_body args; }                                   \
    MF_TARGET_V3 static void name##_v3 params { name##_body args; }                                   \
    static void name##_v0 params { name##_body args; }                                                \
    linkage void name params {                                                                        \
        static void(*chosen) params;                                                                  \
        void(*f) params = __atomic_load_n(&chosen, __ATOMIC_RELAXED);                                 \
        if (!f) {                                                                                     \
            int level = mf_isa_level();                                                               \
            f = level >= 2 ? name##_v4 : level == 1 ? name##_v3 : name##_v0;                          \
            __atomic_store_n(&chosen, f, __ATOMIC_RELAXED);                                           \
        }                                                                                             \
        f args;                                                                                       \
    }

#endif
