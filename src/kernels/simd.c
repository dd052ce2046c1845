/* kernels/simd.c - which vector width the math-heavy elementwise loops run at.
 *
 * Those loops (kernels/unary.h, AGI_EW_WIDE) are compiled for the baseline ISA and,
 * on x86-64 with GCC or Clang, also with AVX2 and with AVX-512 enabled; this
 * picks one per call. Every width computes the same IEEE operations in the
 * same order (no FMA contraction: -ffp-contract=off), so results are
 * bit-identical whichever runs; tests/test_vmath.c checks it. The best width
 * the CPU (and OS) supports is used, unless the environment variable AG_SIMD
 * (read once) names an available one of avx512, avx2, base. */
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

static int env_level = -1;     /* -1: AG_SIMD unset or unknown */
static once_flag env_once = ONCE_FLAG_INIT;

static void read_env(void)
{
    const char *e = getenv("AG_SIMD");
    if (!e)
        return;
    if (!strcmp(e, "avx512"))
        env_level = AGI_SIMD_AVX512;
    else if (!strcmp(e, "avx2"))
        env_level = AGI_SIMD_AVX2;
    else if (!strcmp(e, "base"))
        env_level = AGI_SIMD_BASE;
}

bool agi_simd_available(int level)
{
    switch (level) {
    case AGI_SIMD_BASE:
        return true;
#if AGI_SIMD_CLONES
    case AGI_SIMD_AVX2:
        return __builtin_cpu_supports("avx2");
    case AGI_SIMD_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#endif
    default:
        return false;
    }
}

/* agi_simd_force's level, -1 for none; global, as the pool's workers run the loops */
static atomic_int forced = -1;
static atomic_int level = -1;  /* computed once; a race computes the same value twice */

void agi_simd_force(int l)
{
    atomic_store_explicit(&forced, l >= 0 && agi_simd_available(l) ? l : -1,
                          memory_order_relaxed);
}

int agi_simd(void)
{
    const int f = atomic_load_explicit(&forced, memory_order_relaxed);
    if (f >= 0)
        return f;
    int l = atomic_load_explicit(&level, memory_order_relaxed);
    if (l < 0) {
        call_once(&env_once, read_env);
        if (env_level >= 0 && agi_simd_available(env_level))
            l = env_level;
        else
            l = agi_simd_available(AGI_SIMD_AVX512) ? AGI_SIMD_AVX512
                : agi_simd_available(AGI_SIMD_AVX2) ? AGI_SIMD_AVX2
                                                     : AGI_SIMD_BASE;
        atomic_store_explicit(&level, l, memory_order_relaxed);
    }
    return l;
}
