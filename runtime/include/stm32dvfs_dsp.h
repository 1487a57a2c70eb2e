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

#endif /* STM32DVFS_DSP_H */
