/**
 * @file stm32dvfs_nn_support.h
 * @brief The instructions the int8 kernels are built from, with a portable C twin of each.
 *
 * On a Cortex-M with the DSP extension (M4, M7) every helper is one instruction (SMLAD, SXTB16,
 * SXTAB16, SMMLA, SSAT); elsewhere (the host build the tests run under the sanitizers) it is plain
 * C with the same result, so the host and the emulated firmware give bit-identical outputs.
 *
 * Operand conventions: a "pair" is a 32-bit word holding two int16 values, the first in the low
 * half-word. SXTB16 of a word of four int8 (b0, b1, b2, b3) gives the pair (b0, b2); of the word
 * rotated by 8 bits, the pair (b1, b3).
 */
#ifndef STM32DVFS_NN_SUPPORT_H
#define STM32DVFS_NN_SUPPORT_H

#include <stdint.h>
#include <string.h>

#include "stm32dvfs_qnn.h"

/* Helpers and micro-kernels are always inlined: a generated kernel calls them with constant
 * shapes, and an out-of-line call would both cost the call and hide those constants. A build
 * that checks behaviour rather than speed (the sanitized host harness) may define it away. */
#ifndef STM32DVFS_NN_INLINE
#define STM32DVFS_NN_INLINE static inline __attribute__((always_inline))
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define STM32DVFS_NN_DSP 1
#else
#define STM32DVFS_NN_DSP 0
#endif

/* The multiply-accumulate blocks written in inline assembly take 13 or 14 registers: only when
 * optimising (at -O0 the frame pointer holds one); otherwise their C twins run. */
#if STM32DVFS_NN_DSP && defined(__OPTIMIZE__)
#define STM32DVFS_NN_ASM 1
#else
#define STM32DVFS_NN_ASM 0
#endif

/** Four bytes from any address, as one word (an unaligned LDR on Cortex-M4/M7). */
STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_read_u32(const void* p)
{
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/** Two int16 values as a pair: lo in bits 0-15, hi in bits 16-31. */
STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_pack(int32_t lo, int32_t hi)
{
  return (uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16);
}

STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_lo(uint32_t pair) { return (int16_t)(pair & 0xFFFFu); }
STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_hi(uint32_t pair) { return (int16_t)(pair >> 16); }

/*
 * The instructions, one inline function each, with a or b pairs, x a word of four int8, lo/hi as
 * above:
 *   smlad(a, b, acc)        acc + lo(a) * lo(b) + hi(a) * hi(b)                 SMLAD
 *   smlabb/smlabt/smlatb    acc + lo(a) * lo(b) / lo(a) * hi(b) / hi(a) * lo(b)  SMLABB, SMLABT, SMLATB
 *   sxtab16(offset, x)      bytes 0 and 2 of x, sign-extended, plus the pair offset  SXTAB16
 *   sxtab16_ror8(offset, x) the same of bytes 1 and 3                            SXTAB16 ..., ROR #8
 *   sxtb16(x), sxtb16_ror8  bytes 0 and 2 (1 and 3) of x, sign-extended          SXTB16 (ROR #8)
 *   pkhbt(lo, hi)           the low half of lo and the low half of hi as a pair  PKHBT ..., LSL #16
 *   pkhtb(lo, hi)           the high half of lo and the high half of hi          PKHTB ..., ASR #16
 *   sat8(x)                 x saturated to int8                                  SSAT #8
 *   smmla(a, b, c)          floor((c * 2^32 + a * b) / 2^32), the high word of a 64-bit
 *                           multiply-accumulate; callers guarantee it fits int32
 *                           (see stm32dvfs_requant_prepare)                      SMMLA
 * ACLE intrinsics where ACLE has the form; inline assembly for the rotated and packing ones.
 */
#if STM32DVFS_NN_DSP

STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_smlad(uint32_t a, uint32_t b, int32_t acc) { return (int32_t)__smlad(a, b, (uint32_t)acc); }
STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_smlabb(uint32_t a, uint32_t b, int32_t acc) { return __smlabb((int32_t)a, (int32_t)b, acc); }
STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_smlabt(uint32_t a, uint32_t b, int32_t acc) { return __smlabt((int32_t)a, (int32_t)b, acc); }
STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_smlatb(uint32_t a, uint32_t b, int32_t acc) { return __smlatb((int32_t)a, (int32_t)b, acc); }
STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_sxtab16(uint32_t offset, uint32_t x) { return __sxtab16(offset, x); }

STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_sxtab16_ror8(uint32_t offset, uint32_t x)
{
  uint32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(offset), "r"(x));
  return r;
}

STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_sxtb16(uint32_t x) { return __sxtb16(x); }

STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_sxtb16_ror8(uint32_t x)
{
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_pkhbt(uint32_t lo, uint32_t hi)
{
  uint32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
}

STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_pkhtb(uint32_t lo, uint32_t hi)
{
  uint32_t r;
  __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
  return r;
}

STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_sat8(int32_t x) { return __ssat(x, 8); }

STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_smmla(int32_t a, int32_t b, int32_t c)
{
  int32_t r;
  __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
  return r;
}

#else /* the C twins: the same results in plain C */

STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_smlad(uint32_t a, uint32_t b, int32_t acc)
{
  return acc + stm32dvfs_nn_lo(a) * stm32dvfs_nn_lo(b) + stm32dvfs_nn_hi(a) * stm32dvfs_nn_hi(b);
}

STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_smlabb(uint32_t a, uint32_t b, int32_t acc) { return acc + stm32dvfs_nn_lo(a) * stm32dvfs_nn_lo(b); }
STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_smlabt(uint32_t a, uint32_t b, int32_t acc) { return acc + stm32dvfs_nn_lo(a) * stm32dvfs_nn_hi(b); }
STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_smlatb(uint32_t a, uint32_t b, int32_t acc) { return acc + stm32dvfs_nn_hi(a) * stm32dvfs_nn_lo(b); }

STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_sxtab16(uint32_t offset, uint32_t x)
{
  return stm32dvfs_nn_pack(stm32dvfs_nn_lo(offset) + (int8_t)(x & 0xFFu),
                           stm32dvfs_nn_hi(offset) + (int8_t)((x >> 16) & 0xFFu));
}

STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_sxtab16_ror8(uint32_t offset, uint32_t x)
{
  return stm32dvfs_nn_sxtab16(offset, (x >> 8) | (x << 24));
}

STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_sxtb16(uint32_t x) { return stm32dvfs_nn_sxtab16(0u, x); }
STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_sxtb16_ror8(uint32_t x) { return stm32dvfs_nn_sxtab16_ror8(0u, x); }
STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_pkhbt(uint32_t lo, uint32_t hi) { return (lo & 0xFFFFu) | (hi << 16); }
STM32DVFS_NN_INLINE uint32_t stm32dvfs_nn_pkhtb(uint32_t lo, uint32_t hi) { return (lo >> 16) | (hi & 0xFFFF0000u); }
STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_sat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }

STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_smmla(int32_t a, int32_t b, int32_t c)
{
  /* arithmetic shift of a negative int64 is implementation-defined; GCC and Clang shift arithmetically */
  return (int32_t)(((int64_t)c * INT64_C(4294967296) + (int64_t)a * (int64_t)b) >> 32);
}

#endif /* STM32DVFS_NN_DSP */

/**
 * @brief Requantisation of one output channel, prepared once per channel.
 *
 * The exact rule (stm32dvfs_requantize_s8) is out = clamp(round(acc * M * 2^(shift - 31)) + zp,
 * lo, hi), rounded once, ties to even. Where the compiler has proven for the layer that no
 * accumulator can fall on a tie and that the sums below cannot overflow (``fast`` in
 * stm32dvfs_requant; tvm_stm32dvfs/qnn/requant.py: fast_requant_channels), rounding half up is
 * the same rule, and with t = 31 - shift = 32 + s (s >= 1):
 *
 *     round_half_up(acc * M / 2^t) + zp = floor((floor(acc * M / 2^32) + c) / 2^s),
 *     c = 2^(s - 1) + zp * 2^s,
 *
 * one SMMLA and one shift (half up: TFLite's fully connected rule too, where no overflow is possible).
 * Otherwise ``m``, ``c``, ``s`` hold M, shift and zp for the layer's ``rounding`` (STM32DVFS_ROUND_*).
 */
typedef struct {
  int32_t m; /**< Q31 multiplier M */
  int32_t c; /**< fast: 2^(s-1) + zp * 2^s; exact: the shift */
  int32_t s; /**< fast: t - 32; exact: the zero point */
} stm32dvfs_requant_channel;

/** Per-layer requantisation: per-channel multiplier and shift, output zero point and clamp. */
/** The rounding of a layer's requantisation (``rounding`` in stm32dvfs_requant). */
enum {
  STM32DVFS_ROUND_EVEN = 0,    /**< once, ties to even: ONNX QuantizeLinear's rounding */
  STM32DVFS_ROUND_DOUBLE = 1,  /**< TFLite's gemmlowp double rounding (stm32dvfs_requantize_double) */
  STM32DVFS_ROUND_HALF_UP = 2  /**< once, half up: TFLite's fully connected kernel */
};

typedef struct {
  const int32_t* multiplier; /**< [channels] Q31, M in [2^30, 2^31) or 0 */
  const int32_t* shift;      /**< [channels] in [-31, 30] */
  int32_t zero_point;        /**< output zero point */
  int32_t act_min;           /**< clamp, in [-128, 127]: fused ReLU / ReLU6 */
  int32_t act_max;
  int32_t fast;              /**< 1: the compiler proved the fast rule equal to ``rounding`` for every channel */
  int32_t rounding;          /**< STM32DVFS_ROUND_*: the model's rule */
} stm32dvfs_requant;

STM32DVFS_NN_INLINE stm32dvfs_requant_channel stm32dvfs_requant_prepare(const stm32dvfs_requant* rq, int32_t channel)
{
  stm32dvfs_requant_channel q;
  q.m = rq->multiplier[channel];
  if (rq->fast) {
    q.s = -1 - rq->shift[channel];
    q.c = (int32_t)((1u << (q.s - 1)) + ((uint32_t)rq->zero_point << q.s));
  } else {
    q.c = rq->shift[channel];
    q.s = rq->zero_point;
  }
  return q;
}

/** One accumulator -> int8 by the prepared rule (``fast`` and ``rounding`` as in stm32dvfs_requant; the
 *  fast rule is tested first and alone, so that it costs what it did before TFLite's rules). */
STM32DVFS_NN_INLINE int32_t stm32dvfs_requant_apply(int32_t acc, stm32dvfs_requant_channel q, int32_t fast,
                                                    int32_t rounding, int32_t act_min, int32_t act_max)
{
  int32_t v;
  if (fast) {
    v = stm32dvfs_nn_sat8(stm32dvfs_nn_smmla(acc, q.m, q.c) >> q.s);
  } else if (rounding == STM32DVFS_ROUND_EVEN) {
    v = stm32dvfs_requantize(acc, q.m, q.c) + q.s;
    v = stm32dvfs_nn_sat8(v);
  } else if (rounding == STM32DVFS_ROUND_DOUBLE) {
    v = stm32dvfs_nn_sat8(stm32dvfs_requantize_double(acc, q.m, q.c) + q.s);
  } else {
    v = stm32dvfs_nn_sat8(stm32dvfs_requantize_half_up(acc, q.m, q.c) + q.s);
  }
  /* with the constants of a specialised call these two tests fold away when the clamp is the
   * int8 range (the usual case: a ReLU's output zero point is -128) */
  if (act_min > -128) {
    v = v < act_min ? act_min : v;
  }
  if (act_max < 127) {
    v = v > act_max ? act_max : v;
  }
  return v;
}

/**
 * @brief An element-wise add fused after a convolution (a residual connection).
 *
 * out = clamp(round((y - y_zero_point) * y_factor + (r - r_zero_point) * r_factor) / 2^bits)
 *       + zero_point, act_min, act_max), rounded once, ties to even, where y is the
 * convolution's requantised int8 output and r the other operand (same NCHW shape): the rule of
 * tvm_stm32dvfs.qnn.kernels.add. ``input`` NULL: no add.
 */
typedef struct {
  const int8_t* input; /**< r, or NULL */
  int32_t input_zero_point;
  int32_t input_factor;
  int32_t conv_zero_point; /**< y_zero_point: the convolution output's own zero point */
  int32_t conv_factor;
  int32_t bits;
  int32_t zero_point;
  int32_t act_min;
  int32_t act_max;
} stm32dvfs_residual;

STM32DVFS_NN_INLINE int32_t stm32dvfs_residual_apply(const stm32dvfs_residual* add, int32_t y,
                                                                              int32_t r)
{
  const int32_t v = (y - add->conv_zero_point) * add->conv_factor + (r - add->input_zero_point) * add->input_factor;
  return stm32dvfs_requantize_s8(v, INT32_C(1) << 30, 1 - add->bits, add->zero_point, add->act_min, add->act_max);
}

#endif /* STM32DVFS_NN_SUPPORT_H */
