/**
 * @file stm32dvfs_nn_quantize.c
 * @brief stm32dvfs_quantize_f32_s8: float32 -> int8, ONNX QuantizeLinear.
 *
 * y = saturate(round_half_even(x / scale) + zero_point). The quotient is the float32 division
 * the model specifies (VDIV); it is clamped to [-256, 256] in float (beyond that the result
 * saturates anyway) and converted with round to nearest, ties to even (VCVTR, FPSCR's default
 * rounding), so the integer add cannot overflow.
 */
#include <math.h>
#include <string.h>

#include "stm32dvfs_nn.h"
#include "stm32dvfs_status.h"

static inline int32_t round_to_int(float v)
{
#if defined(__ARM_FP) && (__ARM_FP & 4)
  float r;
  __asm__("vcvtr.s32.f32 %0, %1" : "=t"(r) : "t"(v));
  int32_t i;
  memcpy(&i, &r, 4);
  return i;
#else
  return (int32_t)nearbyintf(v);
#endif
}

int stm32dvfs_quantize_f32_s8(const float* input, int8_t* output, int32_t count, float scale, int32_t zero_point)
{
  for (int32_t i = 0; i < count; ++i) {
    float v = input[i] / scale;
    v = v < 256.0f ? v : 256.0f; /* NaN saturates high, as the loops this kernel replaced did */
    v = v > -256.0f ? v : -256.0f;
    output[i] = (int8_t)stm32dvfs_nn_sat8(round_to_int(v) + zero_point);
  }
  return STM32DVFS_OK;
}
