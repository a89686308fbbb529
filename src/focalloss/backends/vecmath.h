/* float32 exp, expm1, log and log1p as branch-free inline arithmetic, for the fused CPU kernels.
 *
 * Each is a handful of multiplies and adds, integer operations on the float's bits and selects, with
 * no call and no table, so that every `#pragma omp simd` loop that uses them vectorizes on each
 * dispatch target (AVX-512, AVX2 and the x86-64 baseline), whether or not the C library has vector
 * versions of its own (cpu_kernels.c says which are used where). They are correct with and without
 * fused multiply-add (the constants are split so that no step depends on it). The error bounds,
 * measured over every float32 input on each target against the float64 C library, are in the
 * README's speed section (focalloss.benchmark.vector_math measures them). Conditions are written as
 * separate selects: GCC does not vectorize a select on `a < b || a != a`.
 *
 * exp: x = n ln 2 + r with n = round(x / ln 2) and |r| <= ln 2 / 2 (ln 2 in two parts, the first
 * with 9 trailing zero bits, so that n * LN2_HI is exact for |n| <= 512); expm1(r) by its Taylor
 * series to r^7 (truncation below 1.6e-8 of expm1(r) there); exp(x) = 2^n + 2^n expm1(r), the scale
 * 2^n formed in the exponent bits, in two halves so that subnormal results come out right. expm1:
 * the same steps in double, rounded once (see vm_expm1f).
 *
 * log and log1p: u = 2^k m with m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact), s = f / (2 + f);
 * log(1 + f) = f - (f^2/2 - s (f^2/2 + R)), R = 2 (s^2/3 + s^4/5 + s^6/7 + s^8/9) the series of
 * log((1 + s) / (1 - s)) / s - 2 (truncation below 2e-9 of the result for |s| <= 0.1716), then k ln 2
 * added in two parts. log1p(y) forms u = 1 + y and adds (y - (u - 1)) / u, the part of y that u lost.
 */
#ifndef FOCALLOSS_VECMATH_H
#define FOCALLOSS_VECMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define VM_INLINE static inline __attribute__((always_inline))

VM_INLINE float vm_from_bits(int32_t i) {
    union { int32_t i; float f; } u = {.i = i};
    return u.f;
}

VM_INLINE int32_t vm_to_bits(float f) {
    union { float f; int32_t i; } u = {.f = f};
    return u.i;
}

#define VM_LOG2E 1.44269504088896341f
#define VM_LN2_HI 0.693145751953125f       /* 0x3f317200: 15 significant bits */
#define VM_LN2_LO 1.42860682030941723e-06f /* ln 2 - VM_LN2_HI */
#define VM_ROUND 12582912.0f               /* 1.5 * 2^23: adding it rounds to an integer */

/* expm1(r) for |r| <= 0.35: r + r^2/2! + ... + r^7/7! */
VM_INLINE float vm_expm1_small(float r) {
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    return (p * r) * r + r;
}

/* 2^n for n in [-126, 127] */
VM_INLINE float vm_pow2(int32_t n) { return vm_from_bits((n + 127) << 23); }

VM_INLINE float vm_expf(float x) {
    /* below -110 the result rounds to 0, above 89 to inf; NaN passes through the clamps */
    float xc = x < -110.0f ? -110.0f : x > 89.0f ? 89.0f : x;
    float n = (xc * VM_LOG2E + VM_ROUND) - VM_ROUND; /* round(x / ln 2) */
    int32_t ni = (int32_t)n;
    float r = (xc - n * VM_LN2_HI) - n * VM_LN2_LO;
    float pm1 = vm_expm1_small(r);
    int32_t n1 = ni >> 1; /* n in [-159, 128]: both halves are normal scales */
    float s1 = vm_pow2(n1), s2 = vm_pow2(ni - n1);
    return (s1 + pm1 * s1) * s2;
}

/* expm1 in double, rounded once to float: float arithmetic would leave 1.4 ulp where the C library's
 * scalar expm1f has 0.8. x = n ln 2 + r (|r| <= 0.35), expm1(r) by Taylor to r^10
 * (truncation below 3e-12 of it), expm1(x) = 2^n expm1(r) + (2^n - 1); below -30 it rounds to -1 */
VM_INLINE float vm_expm1f(float x) {
    double xc = x < -30.0f ? -30.0 : x > 89.0f ? 89.0 : (double)x;
    const double round = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
    double t = xc * 1.4426950408889634 + round, n = t - round;
    double r = xc - n * 0.6931471805599453; /* its rounding error is far below a float ulp */
    double p = 1.0 / 39916800;
    p = p * r + 1.0 / 3628800;
    p = p * r + 1.0 / 362880;
    p = p * r + 1.0 / 40320;
    p = p * r + 1.0 / 5040;
    p = p * r + 1.0 / 720;
    p = p * r + 1.0 / 120;
    p = p * r + 1.0 / 24;
    p = p * r + 1.0 / 6;
    p = p * r + 0.5;
    double pm1 = (p * r) * r + r;
    int64_t t_bits, round_bits;
    memcpy(&t_bits, &t, sizeof t);
    memcpy(&round_bits, &round, sizeof round);
    int64_t bits = (t_bits - round_bits + 1023) << 52; /* 2^n from n in t's low bits, n in [-44, 129] */
    double s;
    memcpy(&s, &bits, sizeof s);
    return (float)(pm1 * s + (s - 1.0));
}

/* log(2^-k_shift v) + c for the positive normal float v whose bits are `ix`, from v = 2^k m with m in
 * [sqrt(1/2), sqrt(2)): the shared core of log and log1p */
VM_INLINE float vm_log_core(int32_t ix, int32_t k_shift, float c) {
    int32_t k = (ix - 0x3f3504f3) >> 23; /* m in [sqrt(1/2), sqrt(2)) */
    float m = vm_from_bits(ix - (k << 23));
    float kf = (float)(k - k_shift);
    float f = m - 1.0f;
    float s = f / (2.0f + f);
    float z = s * s;
    float R = z * (2.0f / 3 + z * (2.0f / 5 + z * (2.0f / 7 + z * (2.0f / 9))));
    float hfsq = 0.5f * f * f;
    return kf * VM_LN2_HI - ((hfsq - (s * (hfsq + R) + (kf * VM_LN2_LO + c))) - f);
}

VM_INLINE float vm_logf(float x) {
    int32_t sub = x < 1.17549435e-38f; /* subnormal (or not positive): scale by 2^23 first */
    float xs = sub ? x * 8388608.0f : x;
    float y = vm_log_core(vm_to_bits(xs), sub ? 23 : 0, 0.0f);
    y = x == INFINITY ? x : y;
    y = x == 0.0f ? -INFINITY : y;
    y = x < 0.0f ? NAN : y; /* two selects: one on an unordered comparison does not vectorize */
    return x != x ? x : y;
}

VM_INLINE float vm_log1pf(float x) {
    /* u = 1 + x is at least 2^-24 when it is not 0, so it needs no subnormal scaling */
    float u = 1.0f + x;
    float c = (x - (u - 1.0f)) / u;
    c = u < INFINITY ? c : 0.0f; /* c is NaN at u = inf (inf - inf) */
    float y = vm_log_core(vm_to_bits(u), 0, c);
    y = x == INFINITY ? x : y;
    y = u == 0.0f ? -INFINITY : y;
    y = x < -1.0f ? NAN : y;
    return x != x ? x : y;
}

#endif
