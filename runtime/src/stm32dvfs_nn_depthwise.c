/**
 * @file stm32dvfs_nn_depthwise.c
 * @brief stm32dvfs_depthwise_conv2d_s8: depthwise int8 convolution, one channel plane at a time.
 *
 * Each channel's input window is copied into the scratch as int8, the padding filled with the
 * input zero point so that, with the zero point subtracted, it contributes exactly 0 and the
 * loops need no bounds checks (TinyEngine's depthwise kernels pad a CHW plane the same way).
 *
 * 3x3 kernels, dilation 1, run two outputs of a row at a time with SIMD over the kernel taps. For
 * stride 1 one 4-byte load (x0 x1 x2 x3) per kernel row serves both outputs: SXTAB16 gives the
 * pairs (x0, x2) and (x1, x3) minus the zero point, and with the weights as (w0, w2) and w1
 *     out0 = x0 w0 + x2 w2 + x1 w1 = SMLAD((x0, x2), (w0, w2)) + SMLABB((x1, x3), w1)
 *     out1 = x1 w0 + x3 w2 + x2 w1 = SMLAD((x1, x3), (w0, w2)) + SMLATB((x0, x2), w1).
 * For stride 2 the outputs read x0..x2 and x2..x4: the same load and x4:
 *     out0 = SMLAD((x0, x2), (w0, w2)) + SMLABB((x1, x3), w1)
 *     out1 = SMLATB((x0, x2), w0) + SMLATB((x1, x3), w1) + x4 w2.
 * Other shapes run one tap at a time.
 */
#include <string.h>

#include "stm32dvfs_nn.h"
#include "stm32dvfs_status.h"

/* The channel's padded window: rows [-pad_top, ...) and columns [-pad_left, ...) of the input. */
static void fill_plane(const int8_t* input, const stm32dvfs_conv_dims* d, int32_t zero_point, int8_t* plane,
                       int32_t rows, int32_t width)
{
  const int32_t left = d->pad_left < width ? d->pad_left : width;
  for (int32_t r = 0; r < rows; ++r) {
    const int32_t iy = r - d->pad_top;
    int8_t* dst = plane + r * width;
    if (iy < 0 || iy >= d->in_height) {
      memset(dst, zero_point, (size_t)width);
      continue;
    }
    /* columns [0, left): padding; [left, left + copy): input; the rest: padding */
    int32_t copy = width - left;
    copy = copy < d->in_width ? copy : d->in_width;
    memset(dst, zero_point, (size_t)left);
    memcpy(dst + left, input + iy * d->in_width, (size_t)copy);
    memset(dst + left + copy, zero_point, (size_t)(width - left - copy));
  }
}

static void depthwise_3x3_s1(const int8_t* plane, int32_t width, const int8_t* w, uint32_t off2, int32_t bias,
                             stm32dvfs_requant_channel rq, const stm32dvfs_conv2d_args* args, int8_t* out)
{
  const stm32dvfs_conv_dims* d = &args->dims;
  const int32_t fast = args->requant.fast, act_min = args->requant.act_min, act_max = args->requant.act_max;
  const uint32_t w02_0 = stm32dvfs_nn_pack(w[0], w[2]), w1_0 = (uint32_t)(uint16_t)w[1];
  const uint32_t w02_1 = stm32dvfs_nn_pack(w[3], w[5]), w1_1 = (uint32_t)(uint16_t)w[4];
  const uint32_t w02_2 = stm32dvfs_nn_pack(w[6], w[8]), w1_2 = (uint32_t)(uint16_t)w[7];
  for (int32_t oy = 0; oy < d->out_height; ++oy) {
    const int8_t* r0 = plane + oy * width;
    const int8_t* r1 = r0 + width;
    const int8_t* r2 = r1 + width;
    int8_t* o = out + oy * d->out_width;
    for (int32_t ox = 0; ox < d->out_width; ox += 2) {
      int32_t a0 = bias, a1 = bias;
      uint32_t x = stm32dvfs_nn_read_u32(r0 + ox);
      uint32_t x02 = stm32dvfs_nn_sxtab16(off2, x), x13 = stm32dvfs_nn_sxtab16_ror8(off2, x);
      a0 = stm32dvfs_nn_smlabb(x13, w1_0, stm32dvfs_nn_smlad(x02, w02_0, a0));
      a1 = stm32dvfs_nn_smlatb(x02, w1_0, stm32dvfs_nn_smlad(x13, w02_0, a1));
      x = stm32dvfs_nn_read_u32(r1 + ox);
      x02 = stm32dvfs_nn_sxtab16(off2, x);
      x13 = stm32dvfs_nn_sxtab16_ror8(off2, x);
      a0 = stm32dvfs_nn_smlabb(x13, w1_1, stm32dvfs_nn_smlad(x02, w02_1, a0));
      a1 = stm32dvfs_nn_smlatb(x02, w1_1, stm32dvfs_nn_smlad(x13, w02_1, a1));
      x = stm32dvfs_nn_read_u32(r2 + ox);
      x02 = stm32dvfs_nn_sxtab16(off2, x);
      x13 = stm32dvfs_nn_sxtab16_ror8(off2, x);
      a0 = stm32dvfs_nn_smlabb(x13, w1_2, stm32dvfs_nn_smlad(x02, w02_2, a0));
      a1 = stm32dvfs_nn_smlatb(x02, w1_2, stm32dvfs_nn_smlad(x13, w02_2, a1));
      o[ox] = (int8_t)stm32dvfs_requant_apply(a0, rq, fast, act_min, act_max);
      if (ox + 1 < d->out_width) {
        o[ox + 1] = (int8_t)stm32dvfs_requant_apply(a1, rq, fast, act_min, act_max);
      }
    }
  }
}

static void depthwise_3x3_s2(const int8_t* plane, int32_t width, const int8_t* w, int32_t offset, int32_t bias,
                             stm32dvfs_requant_channel rq, const stm32dvfs_conv2d_args* args, int8_t* out)
{
  const stm32dvfs_conv_dims* d = &args->dims;
  const int32_t fast = args->requant.fast, act_min = args->requant.act_min, act_max = args->requant.act_max;
  const uint32_t off2 = stm32dvfs_nn_pack(offset, offset);
  uint32_t w02[3], w1[3];
  for (int32_t ky = 0; ky < 3; ++ky) {
    w02[ky] = stm32dvfs_nn_pack(w[3 * ky], w[3 * ky + 2]);
    w1[ky] = (uint32_t)(uint16_t)w[3 * ky + 1];
  }
  for (int32_t oy = 0; oy < d->out_height; ++oy) {
    const int8_t* r0 = plane + 2 * oy * width;
    int8_t* o = out + oy * d->out_width;
    for (int32_t ox = 0; ox < d->out_width; ox += 2) {
      int32_t a0 = bias, a1 = bias;
      const int8_t* r = r0 + 2 * ox;
      for (int32_t ky = 0; ky < 3; ++ky, r += width) {
        const uint32_t x = stm32dvfs_nn_read_u32(r);
        const uint32_t x02 = stm32dvfs_nn_sxtab16(off2, x), x13 = stm32dvfs_nn_sxtab16_ror8(off2, x);
        const uint32_t x4 = (uint32_t)(r[4] + offset);
        a0 = stm32dvfs_nn_smlabb(x13, w1[ky], stm32dvfs_nn_smlad(x02, w02[ky], a0));
        a1 = stm32dvfs_nn_smlatb(x02, w02[ky], a1);
        a1 = stm32dvfs_nn_smlatb(x13, w1[ky], a1);
        a1 = stm32dvfs_nn_smlabt(x4, w02[ky], a1);
      }
      o[ox] = (int8_t)stm32dvfs_requant_apply(a0, rq, fast, act_min, act_max);
      if (ox + 1 < d->out_width) {
        o[ox + 1] = (int8_t)stm32dvfs_requant_apply(a1, rq, fast, act_min, act_max);
      }
    }
  }
}

static void depthwise_generic(const int8_t* plane, int32_t width, const int8_t* w, int32_t offset, int32_t bias,
                              stm32dvfs_requant_channel rq, const stm32dvfs_conv2d_args* args, int8_t* out)
{
  const stm32dvfs_conv_dims* d = &args->dims;
  const int32_t fast = args->requant.fast, act_min = args->requant.act_min, act_max = args->requant.act_max;
  for (int32_t oy = 0; oy < d->out_height; ++oy) {
    for (int32_t ox = 0; ox < d->out_width; ++ox) {
      int32_t acc = bias;
      const int8_t* r = plane + oy * d->stride_h * width + ox * d->stride_w;
      const int8_t* wk = w;
      for (int32_t ky = 0; ky < d->kernel_h; ++ky, r += d->dilation_h * width) {
        for (int32_t kx = 0; kx < d->kernel_w; ++kx, ++wk) {
          acc += (r[kx * d->dilation_w] + offset) * *wk;
        }
      }
      out[oy * d->out_width + ox] = (int8_t)stm32dvfs_requant_apply(acc, rq, fast, act_min, act_max);
    }
  }
}

int stm32dvfs_depthwise_conv2d_s8(const stm32dvfs_conv2d_args* args)
{
  const stm32dvfs_conv_dims* d = &args->dims;
  const int32_t rows = stm32dvfs_window(d->out_height, d->stride_h, d->kernel_h, d->dilation_h);
  const int32_t width = stm32dvfs_depthwise_plane_width(d);
  const int32_t in_plane = d->in_height * d->in_width;
  const int32_t out_plane = d->out_height * d->out_width;
  const int32_t taps = d->kernel_h * d->kernel_w;
  const int32_t offset = -args->input_zero_point;
  const int three = d->kernel_h == 3 && d->kernel_w == 3 && d->dilation_h == 1 && d->dilation_w == 1;
  int8_t* plane = args->buffer;
  for (int32_t n = 0; n < d->batches; ++n) {
    for (int32_t c = 0; c < d->in_channels; ++c) {
      const int8_t* input = args->input + (n * d->in_channels + c) * in_plane;
      int8_t* out = args->output + (n * d->out_channels + c) * out_plane;
      fill_plane(input, d, args->input_zero_point, plane, rows, width);
      const stm32dvfs_requant_channel rq = stm32dvfs_requant_prepare(&args->requant, c);
      const int8_t* w = args->weights + c * taps;
      if (three && d->stride_h == 1 && d->stride_w == 1) {
        depthwise_3x3_s1(plane, width, w, stm32dvfs_nn_pack(offset, offset), args->bias[c], rq, args, out);
      } else if (three && d->stride_h == 2 && d->stride_w == 2) {
        depthwise_3x3_s2(plane, width, w, offset, args->bias[c], rq, args, out);
      } else {
        depthwise_generic(plane, width, w, offset, args->bias[c], rq, args, out);
      }
      if (args->residual.input) {
        const int8_t* r = args->residual.input + (n * d->out_channels + c) * out_plane;
        for (int32_t i = 0; i < out_plane; ++i) {
          out[i] = (int8_t)stm32dvfs_residual_apply(&args->residual, out[i], r[i]);
        }
      }
    }
  }
  return STM32DVFS_OK;
}
