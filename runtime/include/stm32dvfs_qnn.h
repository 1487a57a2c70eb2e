/**
 * @file stm32dvfs_qnn.h
 * @brief Fixed-point requantisation of the int8 kernels.
 *
 * A real multiplier m = M * 2^(shift - 31), with M in [2^30, 2^31) (Q31) and shift in [-31, 30]
 * (TFLite's QuantizeMultiplier), rescales an int32 accumulator: out = round(acc * m). Unlike
 * gemmlowp's SaturatingRoundingDoublingHighMul + RoundingDivideByPOT, which round twice and can
 * be one off, the product is formed exactly in 64 bits and rounded once, to nearest with ties
 * to even — the rounding of ONNX QuantizeLinear, so the kernels reproduce the float semantics of
 * a QDQ model except where float32 itself rounds. On Cortex-M4/M7 this is one SMULL and a few
 * shifts. Python mirrors it in tvm_stm32dvfs/qnn/requant.py; both are tested against each other.
 */
#ifndef STM32DVFS_QNN_H
#define STM32DVFS_QNN_H

#include <stdint.h>

/** round(acc * multiplier * 2^(shift - 31)), ties to even, saturated to int32. */
static inline int32_t stm32dvfs_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
  const int64_t product = (int64_t)acc * (int64_t)multiplier;
  const int32_t total = 31 - shift; /* 1 .. 62 */
  const int64_t mask = (INT64_C(1) << total) - 1;
  const int64_t half = INT64_C(1) << (total - 1);
  int64_t q = product >> total; /* floor: arithmetic shift (implementation-defined, arithmetic on GCC) */
  const int64_t r = product & mask;
  if (r > half || (r == half && (q & 1) != 0)) {
    q += 1;
  }
  return q > INT32_MAX ? INT32_MAX : (q < INT32_MIN ? INT32_MIN : (int32_t)q);
}

/**
 * TFLite's MultiplyByQuantizedMultiplier for int32 accumulators (gemmlowp's rule, used by its
 * reference convolution, depthwise and add kernels): SaturatingRoundingDoublingHighMul — the
 * product rounded to 31 fraction bits, half away from zero — then RoundingDivideByPOT by the
 * right shift, half away from zero again. Two roundings: one off the exact value now and then,
 * and exactly what the TFLite interpreter computes.
 */
#if defined(__GNUC__)
/* out of line: inlined at every output of a kernel it would grow the kernel (its assembly blocks
 * included) past the reach of GCC's literal pools; "unused": not every file that includes this
 * header calls it */
#define STM32DVFS_OUT_OF_LINE __attribute__((noinline, unused))
#else
#define STM32DVFS_OUT_OF_LINE
#endif
STM32DVFS_OUT_OF_LINE static int32_t stm32dvfs_requantize_double(int32_t acc, int32_t multiplier, int32_t shift)
{
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  const int64_t x = (int64_t)acc * ((int64_t)1 << left);
  int32_t high;
  if (x == INT32_MIN && multiplier == INT32_MIN) {
    high = INT32_MAX; /* the one product that saturates */
  } else {
    const int64_t ab = x * (int64_t)multiplier;
    const int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (1 - (INT64_C(1) << 30));
    const int64_t v = ab + nudge;
    /* division truncating toward zero, as the C++ int64 division it mirrors */
    high = (int32_t)(v >= 0 ? v / (INT64_C(1) << 31) : -((-v) / (INT64_C(1) << 31)));
  }
  if (right == 0) {
    return high;
  }
  const int32_t mask = (int32_t)((UINT32_C(1) << right) - 1u);
  const int32_t remainder = high & mask;
  const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
  return (high >> right) + (remainder > threshold ? 1 : 0);
}

/** round(acc * multiplier * 2^(shift - 31)), once, half up (toward +inf): TFLite's rule for the
 *  int64 products of its fully connected kernel. */
static inline int32_t stm32dvfs_requantize_half_up(int32_t acc, int32_t multiplier, int32_t shift)
{
  const int32_t total = 31 - shift; /* 1 .. 62 */
  const int64_t q = ((int64_t)acc * (int64_t)multiplier + (INT64_C(1) << (total - 1))) >> total;
  return q > INT32_MAX ? INT32_MAX : (q < INT32_MIN ? INT32_MIN : (int32_t)q);
}

/** A requantised value plus the output zero point, clamped to [lo, hi] (fused activation). */
static inline int8_t stm32dvfs_offset_clamp_s8(int32_t value, int32_t zero_point, int32_t lo, int32_t hi)
{
  int32_t v = value + zero_point;
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return (int8_t)v;
}

/** stm32dvfs_requantize_double / _half_up with the output zero point and the clamp to [lo, hi]. */
static inline int8_t stm32dvfs_requantize_double_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                                    int32_t zero_point, int32_t lo, int32_t hi)
{
  return stm32dvfs_offset_clamp_s8(stm32dvfs_requantize_double(acc, multiplier, shift), zero_point, lo, hi);
}

static inline int8_t stm32dvfs_requantize_half_up_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                                     int32_t zero_point, int32_t lo, int32_t hi)
{
  return stm32dvfs_offset_clamp_s8(stm32dvfs_requantize_half_up(acc, multiplier, shift), zero_point, lo, hi);
}

/** stm32dvfs_requantize, plus the output zero point and the clamp to [lo, hi] (fused activation). */
static inline int8_t stm32dvfs_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t zero_point,
                                             int32_t lo, int32_t hi)
{
  return stm32dvfs_offset_clamp_s8(stm32dvfs_requantize(acc, multiplier, shift), zero_point, lo, hi);
}

#endif /* STM32DVFS_QNN_H */
