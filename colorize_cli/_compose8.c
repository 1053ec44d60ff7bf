/*
 * The 8-bit composition as one C loop: upsampled ab + the photo's L* -> sRGB codes.
 *
 * colorize_cli/lab_kernel.py loads this library with ctypes (which releases the GIL for the call,
 * so photos compose side by side in worker threads) and documents the arguments. It computes what
 * the numpy path (colorize_cli.srgb_fast.Srgb8Writer after pipeline.upsample_ab_rows) computes,
 * in the same float32 operations in the same order, so both give the same pixels: that is why it
 * is built with -ffp-contract=off and never with -ffast-math. The colour constants are passed in
 * from colorize_cli.lab (the one place that owns them), not repeated here.
 *
 * Per row, in a few passes over small row buffers (instead of numpy's sixty passes over planes):
 *   1. branch-free, so the compiler vectorizes it: bilinear ab, Lab -> XYZ -> linear RGB x 65535
 *      (the index into the sRGB lookup table);
 *   2. the pixels outside the gamut are listed, and their chroma is bisected (L* and hue kept),
 *      one halving at a time over all of them, branch-free again;
 *   3. the table lookup into the interleaved output.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Constants from colorize_cli.lab / srgb_fast, in this order (see lab_kernel._CONSTANTS). */
enum { K_THR, K_TOE, K_C16, K_INV116, K_INV500, K_MINV200, K_LO_TOL, K_HI_TOL, K_S8, K_COUNT };

/* Vectorized with AVX2 where the CPU has it, SSE2 otherwise (GCC/Clang on x86-64 Linux). */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(COLORIZE_NO_CLONES)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

#if defined(_WIN32)
#define EXPORT __declspec(dllexport)
#else
#define EXPORT __attribute__((visibility("default")))
#endif

typedef struct {
    float thr, toe, c16, inv116, inv500, minv200, lo_tol, hi_tol, s8;
    float m[9];
} consts_t;

static inline float f_inv(float f, const consts_t *k) {
    float cube = f * f * f;
    float toe = (f - k->c16) * k->toe;
    return f > k->thr ? cube : toe;
}

static inline float min3(float r, float g, float b) {
    float m = r < g ? r : g;
    return m < b ? m : b;
}

static inline float max3(float r, float g, float b) {
    float m = r > g ? r : g;
    return m > b ? m : b;
}

/* Pass 1 of a row: rr/gr/br = linear RGB x 65535; ar/br_ = a*, b*. */
VECTOR_CLONES
static void row_to_linear(ptrdiff_t width, const float *restrict lrow, const float *restrict wa,
                          const float *restrict wb, const float *restrict sa, const float *restrict sb,
                          float t, const consts_t *k, float *restrict rr, float *restrict gr,
                          float *restrict br, float *restrict ar, float *restrict bbr) {
    const float m00 = k->m[0], m01 = k->m[1], m02 = k->m[2];
    const float m10 = k->m[3], m11 = k->m[4], m12 = k->m[5];
    const float m20 = k->m[6], m21 = k->m[7], m22 = k->m[8];
    for (ptrdiff_t c = 0; c < width; c++) {
        float a = wa[c] + sa[c] * t;
        float b = wb[c] + sb[c] * t;
        float fy = lrow[c] * k->inv116 + k->c16;
        float fx = fy + a * k->inv500;
        float fz = fy + b * k->minv200;
        float x = f_inv(fx, k), y = f_inv(fy, k), z = f_inv(fz, k);
        rr[c] = x * m00 + y * m01 + z * m02;
        gr[c] = x * m10 + y * m11 + z * m12;
        br[c] = x * m20 + y * m21 + z * m22;
        ar[c] = a;
        bbr[c] = b;
    }
}

/* Pass 2b: the chroma bisection of n out-of-gamut pixels, one halving at a time over all of them. */
VECTOR_CLONES
static void bisect(ptrdiff_t n, const float *restrict sfy, const float *restrict sy,
                   const float *restrict sfa, const float *restrict sfb, float *restrict slo,
                   float *restrict shi, int iterations, const consts_t *k) {
    for (int it = 0; it < iterations; it++) {
        for (ptrdiff_t j = 0; j < n; j++) {
            float mid = (slo[j] + shi[j]) * 0.5f;
            float x = f_inv(sfy[j] + sfa[j] * mid, k);
            float z = f_inv(sfy[j] + sfb[j] * mid, k);
            float y = sy[j];
            float r = x * k->m[0] + y * k->m[1] + z * k->m[2];
            float g = x * k->m[3] + y * k->m[4] + z * k->m[5];
            float b = x * k->m[6] + y * k->m[7] + z * k->m[8];
            int outside = (min3(r, g, b) < k->lo_tol) | (max3(r, g, b) > k->hi_tol);
            shi[j] = outside ? mid : shi[j];
            slo[j] = outside ? slo[j] : mid;
        }
    }
}

static inline uint8_t lookup(const uint8_t *lut, float v) {
    return lut[(uint16_t)(v > 0.0f ? v : 0.0f)];
}

/*
 * Returns 0, or -1 when the row buffers could not be allocated (nothing written then).
 *   codes / lstar:  (height, width) uint8 sRGB gray codes (looked up in l_of_code, 256 float32 L*)
 *                   or float32 L* in [0, 100]; exactly one is non-NULL.
 *   wide, step:     (2, h_small, width) float32 a*, b* upsampled along the width, and their row
 *                   differences (0 on the last row).
 *   y0, wy:         (height,) source row (ptrdiff_t) and weight (float32) of each output row.
 *   out:            (height, width, channels) uint8, C-contiguous; channels 3 or 4 (alpha untouched).
 *   lut:            65536 uint8: trunc(linear x 65535) -> sRGB code of the bin's centre.
 *   constants:      K_COUNT floats (enum above), then the 3x3 matrix XYZ -> linear RGB x 65535.
 */
EXPORT int compose8(const uint8_t *codes, const float *lstar, const float *l_of_code,
                    ptrdiff_t height, ptrdiff_t width, const float *wide, const float *step,
                    ptrdiff_t h_small, const ptrdiff_t *y0, const float *wy, uint8_t *out,
                    ptrdiff_t channels, const uint8_t *lut, const float *constants, int iterations) {
    consts_t k = {constants[K_THR], constants[K_TOE], constants[K_C16], constants[K_INV116],
                  constants[K_INV500], constants[K_MINV200], constants[K_LO_TOL], constants[K_HI_TOL],
                  constants[K_S8], {0}};
    for (int i = 0; i < 9; i++) k.m[i] = constants[K_COUNT + i];
    size_t w = (size_t)(width > 0 ? width : 1);
    float *buf = malloc(12 * w * sizeof(float)); /* 6 row planes + 6 gamut planes */
    ptrdiff_t *idx = malloc(w * sizeof(ptrdiff_t));
    if (buf == NULL || idx == NULL) {
        free(buf);
        free(idx);
        return -1;
    }
    float *rr = buf, *gr = buf + w, *br = buf + 2 * w, *ar = buf + 3 * w, *bbr = buf + 4 * w;
    float *lr = buf + 5 * w;
    float *sfy = buf + 6 * w, *sy = buf + 7 * w, *sfa = buf + 8 * w, *sfb = buf + 9 * w;
    float *slo = buf + 10 * w, *shi = buf + 11 * w;
    const size_t plane = (size_t)h_small * (size_t)width;
    for (ptrdiff_t row = 0; row < height; row++) {
        const size_t i = (size_t)y0[row] * (size_t)width;
        const float t = wy[row];
        const float *lrow;
        if (codes != NULL) {
            const uint8_t *crow = codes + (size_t)row * (size_t)width;
            for (ptrdiff_t c = 0; c < width; c++) lr[c] = l_of_code[crow[c]];
            lrow = lr;
        } else {
            lrow = lstar + (size_t)row * (size_t)width;
        }
        row_to_linear(width, lrow, wide + i, wide + plane + i, step + i, step + plane + i, t, &k,
                      rr, gr, br, ar, bbr);
        /* Pass 2a: the pixels outside the gamut (a few percent; more next to dark or bright detail). */
        ptrdiff_t n = 0;
        for (ptrdiff_t c = 0; c < width; c++) {
            if (min3(rr[c], gr[c], br[c]) < k.lo_tol || max3(rr[c], gr[c], br[c]) > k.hi_tol) idx[n++] = c;
        }
        if (n) {
            for (ptrdiff_t j = 0; j < n; j++) {
                ptrdiff_t c = idx[j];
                float fy = lrow[c] * k.inv116 + k.c16;
                sfy[j] = fy;
                sy[j] = f_inv(fy, &k);
                sfa[j] = ar[c] * k.inv500;
                sfb[j] = bbr[c] * k.minv200;
                slo[j] = 0.0f; /* chroma scales known inside / outside the gamut */
                shi[j] = 1.0f;
            }
            bisect(n, sfy, sy, sfa, sfb, slo, shi, iterations, &k);
            for (ptrdiff_t j = 0; j < n; j++) {
                ptrdiff_t c = idx[j];
                float x = f_inv(sfy[j] + sfa[j] * slo[j], &k);
                float z = f_inv(sfy[j] + sfb[j] * slo[j], &k);
                float y = sy[j];
                float r = x * k.m[0] + y * k.m[1] + z * k.m[2];
                float g = x * k.m[3] + y * k.m[4] + z * k.m[5];
                float b = x * k.m[6] + y * k.m[7] + z * k.m[8];
                /* Only a pixel whose L* itself is outside [0, 100] can still be out here. */
                rr[c] = r < 0.0f ? 0.0f : (r > k.s8 ? k.s8 : r);
                gr[c] = g < 0.0f ? 0.0f : (g > k.s8 ? k.s8 : g);
                br[c] = b < 0.0f ? 0.0f : (b > k.s8 ? k.s8 : b);
            }
        }
        /* Pass 3: in gamut within the tolerance, so the truncating cast is the table index. */
        uint8_t *orow = out + (size_t)row * (size_t)width * (size_t)channels;
        for (ptrdiff_t c = 0; c < width; c++) {
            uint8_t *px = orow + (size_t)c * (size_t)channels;
            px[0] = lookup(lut, rr[c]);
            px[1] = lookup(lut, gr[c]);
            px[2] = lookup(lut, br[c]);
        }
    }
    free(buf);
    free(idx);
    return 0;
}

/* setuptools links every extension with this symbol exported on Windows; the library is loaded
 * with ctypes, never imported as a Python module. */
EXPORT void *PyInit__compose8(void) { return NULL; }
