#include "mf_isa.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int mf_isa_cap(const char *setting) {
    char text[32];
    size_t n = 0;
    if (!setting) return -1;
    for (; setting[n] && n + 1 < sizeof text; n++) text[n] = (char)tolower((unsigned char)setting[n]);
    text[n] = 0;
    if (setting[n]) return -1; /* too long to be a name */
    if (!strcmp(text, "sse41") || !strcmp(text, "sse4.1") || !strcmp(text, "sse2") || !strcmp(text, "baseline")
        || !strcmp(text, "avx"))
        return 0;
    if (!strcmp(text, "avx2") || !strcmp(text, "avx2_vnni") || !strcmp(text, "avx2_vnni_2")) return 1;
    if (!strncmp(text, "avx512", 6) || !strncmp(text, "amx", 3) || !strcmp(text, "all")) return 2;
    return -1;
}

int mf_isa_cpu_level(void) {
#if defined(__x86_64__) && defined(__clang__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

int mf_isa_level(void) {
    static int level = -1;
    int known = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (known >= 0) return known;
    const char *setting = getenv("MELFORGE_MAX_CPU_ISA");
    if (!setting || !*setting) setting = getenv("ONEDNN_MAX_CPU_ISA");
    int cpu = mf_isa_cpu_level(), cap = mf_isa_cap(setting);
    known = cap >= 0 && cap < cpu ? cap : cpu;
    __atomic_store_n(&level, known, __ATOMIC_RELAXED);
    return known;
}
