/**
 * @file stm32dvfs_qnn.h
 * @brief Fixed-point helpers of the int8 kernels (the integer semantics of TFLite / CMSIS-NN).
 *
 * A real multiplier m = M * 2^(shift - 31), with M in [2^30, 2^31) (Q31) and shift in [-31, 30],
 * rescales an int32 accumulator: out = round(acc * m). The rounding is gemmlowp's: a doubling
 * high multiply that rounds half away from zero, then a rounding right shift that rounds half
 * away from zero. Python mirrors it in tvm_stm32dvfs/qnn/requant.py; both are tested against
 * each other. Pure integer code: host and Cortex-M builds give identical results.
 */
#ifndef STM32DVFS_QNN_H
#define STM32DVFS_QNN_H

#include <stdint.h>

/** gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), saturating the one overflow. */
static inline int32_t stm32dvfs_doubling_high_mul(int32_t a, int32_t b)
{
  if (a == INT32_MIN && b == INT32_MIN) {
    return INT32_MAX;
  }
  const int64_t ab = (int64_t)a * (int64_t)b;
  const int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (INT64_C(1) - (INT64_C(1) << 30));
  return (int32_t)((ab + nudge) / (INT64_C(1) << 31)); /* C division truncates, as gemmlowp's */
}

/** gemmlowp RoundingDivideByPOT: round(x / 2^exponent), half away from zero; 0 <= exponent <= 31. */
static inline int32_t stm32dvfs_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
  const int64_t mask = (INT64_C(1) << exponent) - 1;
  const int64_t remainder = (int64_t)x & mask;
  const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  /* arithmetic right shift of a negative value: implementation-defined, arithmetic on GCC */
  return (int32_t)(((int64_t)x >> exponent) + (remainder > threshold ? 1 : 0));
}

/** TFLite MultiplyByQuantizedMultiplier: acc * M * 2^(shift - 31), rounded; saturates at int32. */
static inline int32_t stm32dvfs_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  int64_t scaled = (int64_t)acc * (INT64_C(1) << left);
  if (scaled > INT32_MAX) {
    scaled = INT32_MAX;
  } else if (scaled < INT32_MIN) {
    scaled = INT32_MIN;
  }
  return stm32dvfs_rounding_divide_by_pot(stm32dvfs_doubling_high_mul((int32_t)scaled, multiplier), right);
}

/** Requantise and clamp to [lo, hi] after adding the output zero point. */
static inline int8_t stm32dvfs_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t zero_point,
                                             int32_t lo, int32_t hi)
{
  int32_t v = stm32dvfs_requantize(acc, multiplier, shift) + zero_point;
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return (int8_t)v;
}

/**
 * round(acc * M * 2^(shift - 31)) with ties to even, from the exact 64-bit product (one rounding).
 * Used by average pooling: a window average of int8 values often lands exactly on .5 (a
 * power-of-two window at equal scales), where the tie rule shows; ONNX rounds ties to even.
 */
static inline int32_t stm32dvfs_requantize_even(int32_t acc, int32_t multiplier, int32_t shift)
{
  const int64_t product = (int64_t)acc * (int64_t)multiplier;
  const int32_t total = 31 - shift; /* 1 .. 62 */
  const int64_t mask = (INT64_C(1) << total) - 1;
  const int64_t half = INT64_C(1) << (total - 1);
  int64_t q = product >> total; /* floor (arithmetic shift) */
  const int64_t r = product & mask;
  if (r > half || (r == half && (q & 1) != 0)) {
    q += 1;
  }
  return q > INT32_MAX ? INT32_MAX : (q < INT32_MIN ? INT32_MIN : (int32_t)q);
}

/** stm32dvfs_requantize_even, plus the zero point and the clamp to [lo, hi]. */
static inline int8_t stm32dvfs_requantize_even_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                                  int32_t zero_point, int32_t lo, int32_t hi)
{
  int32_t v = stm32dvfs_requantize_even(acc, multiplier, shift) + zero_point;
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return (int8_t)v;
}

#endif /* STM32DVFS_QNN_H */
