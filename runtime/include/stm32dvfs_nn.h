/**
 * @file stm32dvfs_nn.h
 * @brief The int8 kernels of tvm-stm32dvfs: argument structs, scratch sizes, kernels.
 *
 * Layouts: activations NCHW (batch, channels, height, width), int8 with a per-tensor zero point;
 * convolution weights OIHW int8, symmetric (zero point 0), one requantisation per output
 * channel (stm32dvfs_requant); dense weights (out_features, in_features). Accumulation is int32,
 * starting from the int32 bias.
 *
 * Two families, one argument struct per operator:
 * - Plain kernels (stm32dvfs_conv2d_s8, stm32dvfs_depthwise_conv2d_s8, stm32dvfs_dense_s8,
 *   stm32dvfs_quantize_f32_s8; runtime/src/stm32dvfs_nn_*.c): a whole layer per call, as
 *   CMSIS-NN and TinyEngine run it. They are the baseline of the energy comparison.
 * - Decoupled access-execute tiles (stm32dvfs_nn_tiles.h): per tile, an access phase lays the
 *   operands out in SRAM exactly as the execute phase reads them, and the execute phase is
 *   loads and SMLAD only.
 *
 * Every kernel that needs scratch memory takes it from the caller (``buffer``, 8-byte aligned)
 * and has a *_buffer_size function giving its bytes; nothing allocates. The Python compiler
 * mirrors these functions (tvm_stm32dvfs/qnn/microkernels.py) to plan the arena, and a test
 * compares the two.
 */
#ifndef STM32DVFS_NN_H
#define STM32DVFS_NN_H

#include <stdint.h>

#include "stm32dvfs_nn_support.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Shapes of a 2-D convolution (regular or depthwise), batch-major NCHW. */
typedef struct {
  int32_t batches;
  int32_t in_channels;
  int32_t in_height;
  int32_t in_width;
  int32_t out_channels; /**< depthwise: equal to in_channels (channel multiplier 1) */
  int32_t out_height;
  int32_t out_width;
  int32_t kernel_h;
  int32_t kernel_w;
  int32_t stride_h;
  int32_t stride_w;
  int32_t pad_top; /**< rows of zero points above the input (bottom padding follows from out_height) */
  int32_t pad_left;
  int32_t dilation_h;
  int32_t dilation_w;
} stm32dvfs_conv_dims;

/**
 * @brief One convolution layer: y[n, o, oy, ox] = requant(bias[o] + sum over (c, ky, kx) of
 *        (x[n, c, iy, ix] - input_zero_point) * w[o, c, ky, kx]), iy = oy * stride_h - pad_top +
 *        ky * dilation_h (likewise ix), terms outside the input being 0; then the fused residual
 *        add when ``residual.input`` is set. Depthwise: c = o and w is [channels, 1, kh, kw].
 *
 * ``tile_rows`` x ``tile_channels``: the output rows and channels of one decoupled tile (they
 * divide out_height and out_channels; 0 for the plain kernels).
 */
typedef struct {
  const int8_t* input;
  int32_t input_zero_point;
  const int8_t* weights;
  const int32_t* bias;
  int8_t* output;
  int8_t* buffer; /**< scratch, *_buffer_size bytes, 8-byte aligned */
  stm32dvfs_conv_dims dims;
  stm32dvfs_requant requant;
  stm32dvfs_residual residual;
  int32_t tile_rows;
  int32_t tile_channels;
} stm32dvfs_conv2d_args;

/**
 * @brief A fully connected layer: y[n, j] = requant(bias[j] + sum_k (x[n, k] - input_zero_point)
 *        * w[j, k]). ``tile_channels``: output features per decoupled tile (0: plain).
 */
typedef struct {
  const int8_t* input; /**< [batches, in_features] */
  int32_t input_zero_point;
  const int8_t* weights; /**< [out_features, in_features] */
  const int32_t* bias;
  int8_t* output; /**< [batches, out_features] */
  int8_t* buffer;
  int32_t batches;
  int32_t in_features;
  int32_t out_features;
  stm32dvfs_requant requant;
  int32_t tile_channels;
} stm32dvfs_dense_args;

/* ------------------------------------------------------------------ scratch sizes */

/** Reduction length of one output of a regular convolution, and in pairs / quads. */
static inline int32_t stm32dvfs_conv_depth(const stm32dvfs_conv_dims* d)
{
  return d->in_channels * d->kernel_h * d->kernel_w;
}

/** Bytes of stm32dvfs_conv2d_s8's scratch: the int16 im2col columns of four output pixels. */
static inline int32_t stm32dvfs_conv2d_s8_buffer_size(const stm32dvfs_conv_dims* d)
{
  return 32 * ((stm32dvfs_conv_depth(d) + 3) / 4);
}

/** Input rows / columns (padding included) that a depthwise kernel reads. */
static inline int32_t stm32dvfs_window(int32_t out, int32_t stride, int32_t kernel, int32_t dilation)
{
  return (out - 1) * stride + (kernel - 1) * dilation + 1;
}

/** Width of the padded int8 plane of stm32dvfs_depthwise_conv2d_s8 (4 readable bytes past the
 *  last column, for the four-byte loads of the SIMD loops). */
static inline int32_t stm32dvfs_depthwise_plane_width(const stm32dvfs_conv_dims* d)
{
  return stm32dvfs_window(d->out_width, d->stride_w, d->kernel_w, d->dilation_w) + 4;
}

/** Bytes of stm32dvfs_depthwise_conv2d_s8's scratch: one channel's padded input plane. */
static inline int32_t stm32dvfs_depthwise_conv2d_s8_buffer_size(const stm32dvfs_conv_dims* d)
{
  return stm32dvfs_window(d->out_height, d->stride_h, d->kernel_h, d->dilation_h) * stm32dvfs_depthwise_plane_width(d);
}

/** Bytes of stm32dvfs_dense_s8's scratch: one input row widened to int16 quads. */
static inline int32_t stm32dvfs_dense_s8_buffer_size(int32_t in_features)
{
  return 8 * ((in_features + 3) / 4);
}

/* ------------------------------------------------------------------ plain kernels */

/**
 * @brief Regular convolution (groups = 1), any kernel, stride, padding and dilation.
 *
 * Four output pixels at a time: their im2col columns are gathered into ``buffer`` as int16 with
 * the input zero point subtracted (quads of the reduction stored as (k, k+2, k+1, k+3), the order
 * in which SXTB16 unpacks four int8 weights), then every output channel is a 4 x 1 block of
 * SMLAD dot products over them, requantised as it is written. Weights are read as int8.
 * @return STM32DVFS_OK
 */
int stm32dvfs_conv2d_s8(const stm32dvfs_conv2d_args* args);

/**
 * @brief Depthwise convolution (channel multiplier 1), any kernel, stride, padding, dilation.
 *
 * Per channel, the padded input plane is copied into ``buffer`` (padding = the input zero
 * point, so it contributes exactly 0), then: 3x3 stride 1 and 3x3 stride 2 run two outputs at a
 * time with SIMD over the kernel taps (one 4-byte load per input row, SXTAB16 removes the zero
 * point while widening); other shapes run one tap at a time.
 */
int stm32dvfs_depthwise_conv2d_s8(const stm32dvfs_conv2d_args* args);

/** @brief Fully connected layer: each input row widened once, then SMLAD dot products. */
int stm32dvfs_dense_s8(const stm32dvfs_dense_args* args);

/**
 * @brief Float to int8 (ONNX QuantizeLinear): y = saturate(round_half_even(x / scale) +
 *        zero_point), the division in float32 as the model specifies it.
 */
int stm32dvfs_quantize_f32_s8(const float* input, int8_t* output, int32_t count, float scale, int32_t zero_point);

#ifdef __cplusplus
}
#endif

#include "stm32dvfs_nn_tiles.h"

#endif /* STM32DVFS_NN_H */
