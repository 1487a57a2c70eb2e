/**
 * @file stm32dvfs_nn_depthwise.c
 * @brief stm32dvfs_depthwise_conv2d_s8: depthwise int8 convolution, one channel plane at a time.
 *
 * Each channel's input window is copied into the scratch as int8, the padding filled with the
 * input zero point so that, with the zero point subtracted, it contributes exactly 0 and the
 * loops need no bounds checks (TinyEngine's depthwise kernels pad a CHW plane the same way).
 * Four bytes of a plane row, x0..x3, widen with the zero point removed by one SXTAB16 each into
 * the pairs X02 = (x0, x2) and X13 = (x1, x3).
 *
 * 3x3 stride 1 (dilation 1) runs two outputs of a row at a time, one load per kernel row and
 * output: with the weights as W02 = (w0, w2) and w1,
 *     out0 = x0 w0 + x1 w1 + x2 w2 = SMLAD(X02, W02) + w1 * lo(X13)
 *     out1 = x1 w0 + x2 w1 + x3 w2 = SMLAD(X13, W02) + w1 * hi(X02).
 * Other kernels with dilation_w 1 and kernel_w <= 8 (3x3 stride 2, 5x5, 7x7) run one output at a
 * time, per kernel row one or two loads of four taps: SMLAD(X02, (w0, w2)) + SMLAD(X13, (w1, w3)),
 * the weights past kernel_w 0 (the plane has four bytes of slack per row). Anything else runs one
 * tap at a time.
 */
#include "stm32dvfs_nn.h"
#include "stm32dvfs_status.h"

/* The channel's padded window: rows [-pad_top, ...) and columns [-pad_left, ...) of the input,
 * each row ``width`` bytes (the window and four bytes of slack), padding and slack the zero point.
 * Word copies; not a memset / memcpy call per row, whose call overhead a short row cannot bear. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static void
fill_plane(const int8_t* input, const stm32dvfs_conv_dims* d, int32_t zero_point, int8_t* plane, int32_t rows,
           int32_t width)
{
  const uint32_t zp4 = 0x01010101u * (uint8_t)zero_point;
  const int32_t left = d->pad_left < width ? d->pad_left : width;
  int32_t copy = width - left; /* input columns in the window */
  copy = copy < d->in_width ? copy : d->in_width;
  for (int32_t r = 0; r < rows; ++r) {
    const int32_t iy = r - d->pad_top;
    int8_t* dst = plane + r * width;
    int32_t i = 0;
    if (iy >= 0 && iy < d->in_height && copy > 0) {
      const int8_t* src = input + iy * d->in_width;
      for (; i < left; ++i) {
        dst[i] = (int8_t)zero_point;
      }
      int32_t k = 0;
      for (; k + 4 <= copy; k += 4) {
        const uint32_t v = stm32dvfs_nn_read_u32(src + k);
        memcpy(dst + left + k, &v, 4);
      }
      for (; k < copy; ++k) {
        dst[left + k] = src[k];
      }
      i = left + copy;
    }
    for (; i + 4 <= width; i += 4) {
      memcpy(dst + i, &zp4, 4);
    }
    for (; i < width; ++i) {
      dst[i] = (int8_t)zero_point;
    }
  }
}

/* The per-channel rule, and whether the layer's outputs take the short path (fast rule, int8 clamp). */
typedef struct {
  stm32dvfs_requant_channel q;
  int32_t simple;
} channel_rule;

static inline int8_t requant(int32_t acc, const channel_rule* r, const stm32dvfs_requant* rq)
{
  if (r->simple) {
    return (int8_t)stm32dvfs_nn_sat8(stm32dvfs_nn_smmla(acc, r->q.m, r->q.c) >> r->q.s);
  }
  return (int8_t)stm32dvfs_requant_apply(acc, r->q, rq->fast, rq->rounding, rq->act_min, rq->act_max);
}

/* 3x3, stride 1, dilation 1: two outputs per step (file comment). */
static void depthwise_3x3_s1(const int8_t* plane, int32_t width, const int8_t* w, uint32_t off2, int32_t bias,
                             channel_rule rule, const stm32dvfs_conv2d_args* args, int8_t* out)
{
  const stm32dvfs_conv_dims* d = &args->dims;
  const uint32_t w02_0 = stm32dvfs_nn_pack(w[0], w[2]), w02_1 = stm32dvfs_nn_pack(w[3], w[5]);
  const uint32_t w02_2 = stm32dvfs_nn_pack(w[6], w[8]);
  const uint32_t w1_01 = stm32dvfs_nn_pack(w[1], w[4]), w1_2 = (uint32_t)(uint16_t)w[7];
  const int32_t pairs = d->out_width >> 1;
  for (int32_t oy = 0; oy < d->out_height; ++oy, out += d->out_width) {
    const int8_t* r = plane + oy * width;
    int8_t* o = out;
    for (int32_t i = 0; i < pairs; ++i, r += 2, o += 2) {
      uint32_t x = stm32dvfs_nn_read_u32(r);
      uint32_t x02 = stm32dvfs_nn_sxtab16(off2, x), x13 = stm32dvfs_nn_sxtab16_ror8(off2, x);
      int32_t a0 = stm32dvfs_nn_smlabb(x13, w1_01, stm32dvfs_nn_smlad(x02, w02_0, bias));
      int32_t a1 = stm32dvfs_nn_smlatb(x02, w1_01, stm32dvfs_nn_smlad(x13, w02_0, bias));
      x = stm32dvfs_nn_read_u32(r + width);
      x02 = stm32dvfs_nn_sxtab16(off2, x);
      x13 = stm32dvfs_nn_sxtab16_ror8(off2, x);
      a0 = stm32dvfs_nn_smlabt(x13, w1_01, stm32dvfs_nn_smlad(x02, w02_1, a0));
      a1 = stm32dvfs_nn_smlad(x13, w02_1, a1);
      a1 += stm32dvfs_nn_hi(x02) * stm32dvfs_nn_hi(w1_01); /* SMLATT */
      x = stm32dvfs_nn_read_u32(r + 2 * width);
      x02 = stm32dvfs_nn_sxtab16(off2, x);
      x13 = stm32dvfs_nn_sxtab16_ror8(off2, x);
      a0 = stm32dvfs_nn_smlabb(x13, w1_2, stm32dvfs_nn_smlad(x02, w02_2, a0));
      a1 = stm32dvfs_nn_smlatb(x02, w1_2, stm32dvfs_nn_smlad(x13, w02_2, a1));
      o[0] = requant(a0, &rule, &args->requant);
      o[1] = requant(a1, &rule, &args->requant);
    }
    if (d->out_width & 1) { /* the last output of an odd row: the same with out0 only */
      int32_t a0 = bias;
      for (int32_t ky = 0; ky < 3; ++ky) {
        const uint32_t x = stm32dvfs_nn_read_u32(r + ky * width);
        const uint32_t x02 = stm32dvfs_nn_sxtab16(off2, x), x13 = stm32dvfs_nn_sxtab16_ror8(off2, x);
        a0 = stm32dvfs_nn_smlad(x02, stm32dvfs_nn_pack(w[3 * ky], w[3 * ky + 2]), a0);
        a0 += stm32dvfs_nn_lo(x13) * w[3 * ky + 1];
      }
      o[0] = requant(a0, &rule, &args->requant);
    }
  }
}

/* dilation_w 1, kernel_w <= 8 (kh * 2 words of four taps <= 32): one output at a time, per kernel
 * row ``words`` loads of four taps (file comment). */
static void depthwise_words(const int8_t* plane, int32_t width, const uint32_t* wq, int32_t words, uint32_t off2,
                            int32_t bias, channel_rule rule, const stm32dvfs_conv2d_args* args, int8_t* out)
{
  const stm32dvfs_conv_dims* d = &args->dims;
  const int32_t kh = d->kernel_h, row_step = d->dilation_h * width, sx = d->stride_w;
  for (int32_t oy = 0; oy < d->out_height; ++oy, out += d->out_width) {
    const int8_t* r0 = plane + oy * d->stride_h * width;
    for (int32_t ox = 0; ox < d->out_width; ++ox, r0 += sx) {
      int32_t acc = bias;
      const int8_t* r = r0;
      const uint32_t* wk = wq;
      if (words == 1) {
        for (int32_t ky = 0; ky < kh; ++ky, r += row_step, wk += 2) {
          const uint32_t x = stm32dvfs_nn_read_u32(r);
          acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16(off2, x), wk[0], acc);
          acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16_ror8(off2, x), wk[1], acc);
        }
      } else {
        for (int32_t ky = 0; ky < kh; ++ky, r += row_step, wk += 4) {
          const uint32_t x = stm32dvfs_nn_read_u32(r), y = stm32dvfs_nn_read_u32(r + 4);
          acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16(off2, x), wk[0], acc);
          acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16_ror8(off2, x), wk[1], acc);
          acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16(off2, y), wk[2], acc);
          acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16_ror8(off2, y), wk[3], acc);
        }
      }
      out[ox] = requant(acc, &rule, &args->requant);
    }
  }
}

/* 3x3 with dilation 1 and any stride (in practice 2): one output at a time, per kernel row one
 * load of four taps, the six weight pairs in registers. */
static void depthwise_3x3_words(const int8_t* plane, int32_t width, const uint32_t* wq, uint32_t off2, int32_t bias,
                                channel_rule rule, const stm32dvfs_conv2d_args* args, int8_t* out)
{
  const stm32dvfs_conv_dims* d = &args->dims;
  const int32_t sx = d->stride_w;
  const uint32_t w0 = wq[0], w1 = wq[1], w2 = wq[2], w3 = wq[3], w4 = wq[4], w5 = wq[5];
  for (int32_t oy = 0; oy < d->out_height; ++oy, out += d->out_width) {
    const int8_t* r = plane + oy * d->stride_h * width;
    for (int32_t ox = 0; ox < d->out_width; ++ox, r += sx) {
      const uint32_t x = stm32dvfs_nn_read_u32(r), y = stm32dvfs_nn_read_u32(r + width);
      const uint32_t z = stm32dvfs_nn_read_u32(r + 2 * width);
      int32_t acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16(off2, x), w0, bias);
      acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16_ror8(off2, x), w1, acc);
      acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16(off2, y), w2, acc);
      acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16_ror8(off2, y), w3, acc);
      acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16(off2, z), w4, acc);
      acc = stm32dvfs_nn_smlad(stm32dvfs_nn_sxtab16_ror8(off2, z), w5, acc);
      out[ox] = requant(acc, &rule, &args->requant);
    }
  }
}

static void depthwise_generic(const int8_t* plane, int32_t width, const int8_t* w, int32_t offset, int32_t bias,
                              channel_rule rule, const stm32dvfs_conv2d_args* args, int8_t* out)
{
  const stm32dvfs_conv_dims* d = &args->dims;
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
      out[oy * d->out_width + ox] = requant(acc, &rule, &args->requant);
    }
  }
}

int stm32dvfs_depthwise_conv2d_s8(const stm32dvfs_conv2d_args* args)
{
  const stm32dvfs_conv_dims* d = &args->dims;
  const stm32dvfs_requant* rq = &args->requant;
  const int32_t rows = stm32dvfs_window(d->out_height, d->stride_h, d->kernel_h, d->dilation_h);
  const int32_t width = stm32dvfs_depthwise_plane_width(d);
  const int32_t in_plane = d->in_height * d->in_width;
  const int32_t out_plane = d->out_height * d->out_width;
  const int32_t taps = d->kernel_h * d->kernel_w;
  const int32_t offset = -args->input_zero_point;
  const uint32_t off2 = stm32dvfs_nn_pack(offset, offset);
  const int s1_3x3 = d->kernel_h == 3 && d->kernel_w == 3 && d->dilation_h == 1 && d->dilation_w == 1 &&
                     d->stride_h == 1 && d->stride_w == 1;
  const int32_t words = d->dilation_w == 1 && d->kernel_w <= 8 && d->kernel_h <= 8 ? (d->kernel_w + 3) >> 2 : 0;
  channel_rule rule;
  rule.simple = rq->fast && rq->act_min == -128 && rq->act_max == 127;
  int8_t* plane = args->buffer;
  for (int32_t n = 0; n < d->batches; ++n) {
    for (int32_t c = 0; c < d->in_channels; ++c) {
      const int8_t* input = args->input + (n * d->in_channels + c) * in_plane;
      int8_t* out = args->output + (n * d->out_channels + c) * out_plane;
      fill_plane(input, d, args->input_zero_point, plane, rows, width);
      rule.q = stm32dvfs_requant_prepare(rq, c);
      const int8_t* w = args->weights + c * taps;
      const int32_t bias = args->bias[c];
      if (s1_3x3) {
        depthwise_3x3_s1(plane, width, w, off2, bias, rule, args, out);
      } else if (words) {
        /* per kernel row the pairs (w0, w2), (w1, w3) [, (w4, w6), (w5, w7)], 0 past kernel_w */
        uint32_t wq[32];
        for (int32_t ky = 0; ky < d->kernel_h; ++ky) {
          int32_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          for (int32_t kx = 0; kx < d->kernel_w; ++kx) {
            t[kx] = w[ky * d->kernel_w + kx];
          }
          for (int32_t i = 0; i < words; ++i) {
            wq[(ky * words + i) * 2] = stm32dvfs_nn_pack(t[4 * i], t[4 * i + 2]);
            wq[(ky * words + i) * 2 + 1] = stm32dvfs_nn_pack(t[4 * i + 1], t[4 * i + 3]);
          }
        }
        if (words == 1 && d->kernel_h == 3 && d->kernel_w == 3 && d->dilation_h == 1) {
          depthwise_3x3_words(plane, width, wq, off2, bias, rule, args, out);
        } else {
          depthwise_words(plane, width, wq, words, off2, bias, rule, args, out);
        }
      } else {
        depthwise_generic(plane, width, w, offset, bias, rule, args, out);
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
