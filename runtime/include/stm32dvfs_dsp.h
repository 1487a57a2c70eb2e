/**
 * @file stm32dvfs_dsp.h
 * @brief Int16 micro-kernels of the execute phase, with the Cortex-M DSP extension.
 *
 * The access phase lays a tile's operands out as int16 (zero point already subtracted), in the
 * order the execute loop reads them, so one 32-bit load fetches two operands and one SMLAD does
 * two multiply-accumulates with no sign extension. Where the DSP extension is absent (the host
 * build) the same functions are plain C with identical results.
 */
#ifndef STM32DVFS_DSP_H
#define STM32DVFS_DSP_H

#include <stdint.h>
#include <string.h>

/* Out of line and not specialised per call site (GCC would clone it per constant argument set). */
#if defined(__GNUC__) && !defined(__clang__)
#define STM32DVFS_OUT_OF_LINE __attribute__((noipa, unused))
#else
#define STM32DVFS_OUT_OF_LINE __attribute__((noinline, unused))
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define STM32DVFS_HAVE_SMLAD 1
#else
#define STM32DVFS_HAVE_SMLAD 0
#endif

/**
 * @brief Dot product of two int16 vectors of length n, as int32.
 * @param a, b int16 vectors (any alignment: 32-bit loads go through memcpy, which the
 *             Cortex-M4/M7 do as unaligned LDR); their products and the sum must fit int32.
 */
static inline int32_t stm32dvfs_dot_s16(const int16_t* a, const int16_t* b, int32_t n)
{
  int32_t sum = 0;
  int32_t done = 0;
#if STM32DVFS_HAVE_SMLAD
  const int32_t quads = n / 4;
  for (int32_t q = 0; q < quads; ++q) {
    uint32_t a01, a23, b01, b23;
    memcpy(&a01, a + 4 * q, 4);
    memcpy(&a23, a + 4 * q + 2, 4);
    memcpy(&b01, b + 4 * q, 4);
    memcpy(&b23, b + 4 * q + 2, 4);
    sum = (int32_t)__smlad(a01, b01, (uint32_t)sum);
    sum = (int32_t)__smlad(a23, b23, (uint32_t)sum);
  }
  done = 4 * quads;
#endif
  for (int32_t j = done; j < n; ++j) {
    sum += (int32_t)a[j] * (int32_t)b[j];
  }
  return sum;
}

/** Two int16 operands as one 32-bit word (unaligned-safe). */
static inline uint32_t stm32dvfs_pair(const int16_t* p)
{
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/** Four dot products of rows a0, a1 with rows b0, b1 (length n), 2x2 register-blocked. */
static inline void stm32dvfs_dot_s16_2x2(const int16_t* a0, const int16_t* a1, const int16_t* b0,
                                         const int16_t* b1, int32_t n, int32_t sums[4])
{
  int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0;
  int32_t done = 0;
#if STM32DVFS_HAVE_SMLAD
  const int32_t pairs = n / 2;
  for (int32_t q = 0; q < pairs; ++q) {
    const uint32_t x0 = stm32dvfs_pair(a0 + 2 * q);
    const uint32_t x1 = stm32dvfs_pair(a1 + 2 * q);
    const uint32_t y0 = stm32dvfs_pair(b0 + 2 * q);
    const uint32_t y1 = stm32dvfs_pair(b1 + 2 * q);
    s00 = (int32_t)__smlad(x0, y0, (uint32_t)s00);
    s01 = (int32_t)__smlad(x0, y1, (uint32_t)s01);
    s10 = (int32_t)__smlad(x1, y0, (uint32_t)s10);
    s11 = (int32_t)__smlad(x1, y1, (uint32_t)s11);
  }
  done = 2 * pairs;
#endif
  for (int32_t j = done; j < n; ++j) {
    s00 += (int32_t)a0[j] * (int32_t)b0[j];
    s01 += (int32_t)a0[j] * (int32_t)b1[j];
    s10 += (int32_t)a1[j] * (int32_t)b0[j];
    s11 += (int32_t)a1[j] * (int32_t)b1[j];
  }
  sums[0] = s00;
  sums[1] = s01;
  sums[2] = s10;
  sums[3] = s11;
}

/**
 * @brief Tile GEMM of the execute phase: acc[p * acc_p + c * acc_c] = sum_k a[p * a_stride + k] *
 *        b[c * b_stride + k], for p < rows, c < cols, k < depth (the accumulators are overwritten).
 *
 * a: the tile's im2col rows (int16), b: its weight rows (int16), acc: int32 accumulators.
 * Two rows x two columns per inner loop: four loads feed four SMLADs (eight MACs). Not inlined:
 * it runs once per tile, and its tail loops need not be specialised for every call site.
 */
STM32DVFS_OUT_OF_LINE static void stm32dvfs_gemm_s16(const int16_t* a, int32_t a_stride, const int16_t* b, int32_t b_stride,
                                      int32_t* acc, int32_t acc_p, int32_t acc_c, int32_t rows, int32_t cols,
                                      int32_t depth)
{
  int32_t p = 0;
  for (; p + 2 <= rows; p += 2) {
    const int16_t* a0 = a + p * a_stride;
    int32_t c = 0;
    for (; c + 2 <= cols; c += 2) {
      int32_t sums[4];
      const int16_t* b0 = b + c * b_stride;
      stm32dvfs_dot_s16_2x2(a0, a0 + a_stride, b0, b0 + b_stride, depth, sums);
      acc[p * acc_p + c * acc_c] = sums[0];
      acc[p * acc_p + (c + 1) * acc_c] = sums[1];
      acc[(p + 1) * acc_p + c * acc_c] = sums[2];
      acc[(p + 1) * acc_p + (c + 1) * acc_c] = sums[3];
    }
    for (; c < cols; ++c) {
      acc[p * acc_p + c * acc_c] = stm32dvfs_dot_s16(a0, b + c * b_stride, depth);
      acc[(p + 1) * acc_p + c * acc_c] = stm32dvfs_dot_s16(a0 + a_stride, b + c * b_stride, depth);
    }
  }
  for (; p < rows; ++p) {
    for (int32_t c = 0; c < cols; ++c) {
      acc[p * acc_p + c * acc_c] = stm32dvfs_dot_s16(a + p * a_stride, b + c * b_stride, depth);
    }
  }
}

#endif /* STM32DVFS_DSP_H */
