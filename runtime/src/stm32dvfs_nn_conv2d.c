/**
 * @file stm32dvfs_nn_conv2d.c
 * @brief stm32dvfs_conv2d_s8: regular int8 convolution, im2col of four pixels + 4x1 SMLAD blocks.
 *
 * The scratch holds the int16 im2col columns of four consecutive output pixels (raster order,
 * possibly across output rows), zero point subtracted, padding 0. Column k of pixel j sits at
 * int16 index 16 * (k / 4) + 4 * j + {0, 2, 1, 3}[k % 4]: per reduction quad the four pixels'
 * operands are adjacent, one pointer walks them, and each pixel's quad is the pair (k, k+2) then
 * the pair (k+1, k+3) — the pairs SXTB16 and SXTB16-ROR8 make of four int8 weights, so the weights
 * are read as int8, four per load, with no reordering.
 */
#include "stm32dvfs_nn.h"
#include "stm32dvfs_status.h"

/* index of reduction element k of pixel j in the scratch */
static inline int32_t column_index(int32_t k, int32_t j)
{
  static const int8_t order[4] = {0, 2, 1, 3};
  return 16 * (k >> 2) + 4 * j + order[k & 3];
}

/* 1x1, stride 1, no padding: pixel p of channel c is input[c * plane + p]. Four pixels of two
 * channels c and c + 2 are two loads; SXTAB16 widens them with the zero point removed and PKH
 * pairs channel c with channel c + 2 per pixel: the (k, k+2) word of each pixel. */
static void im2col_pointwise(const int8_t* input, int32_t channels, int32_t plane, int32_t offset, int16_t* col)
{
  const uint32_t off2 = stm32dvfs_nn_pack(offset, offset);
  uint32_t* dst = (uint32_t*)col;
  int32_t c = 0;
  for (; c + 4 <= channels; c += 4, dst += 8) {
    for (int32_t half = 0; half < 2; ++half) { /* half 0: channels c, c+2; half 1: c+1, c+3 */
      const uint32_t a = stm32dvfs_nn_read_u32(input + (c + half) * plane);
      const uint32_t b = stm32dvfs_nn_read_u32(input + (c + half + 2) * plane);
      const uint32_t a02 = stm32dvfs_nn_sxtab16(off2, a), a13 = stm32dvfs_nn_sxtab16_ror8(off2, a);
      const uint32_t b02 = stm32dvfs_nn_sxtab16(off2, b), b13 = stm32dvfs_nn_sxtab16_ror8(off2, b);
      dst[0 + half] = stm32dvfs_nn_pkhbt(a02, b02); /* pixel 0 */
      dst[2 + half] = stm32dvfs_nn_pkhbt(a13, b13); /* pixel 1 */
      dst[4 + half] = stm32dvfs_nn_pkhtb(a02, b02); /* pixel 2 */
      dst[6 + half] = stm32dvfs_nn_pkhtb(a13, b13); /* pixel 3 */
    }
  }
  if (c < channels) { /* a last, partial quad: element by element, the rest 0 */
    for (int32_t j = 0; j < 4; ++j) {
      for (int32_t k = c; k < c + 4; ++k) {
        col[column_index(k, j)] = (int16_t)(k < channels ? input[k * plane + j] + offset : 0);
      }
    }
  }
}

/* Any shape: the column of one output pixel, element by element, bounds checked per kernel row. */
static void im2col_pixel(const int8_t* input, const stm32dvfs_conv_dims* d, int32_t offset, int32_t oy,
                         int32_t ox, int16_t* col, int32_t j)
{
  int32_t k = 0;
  const int32_t y0 = oy * d->stride_h - d->pad_top;
  const int32_t x0 = ox * d->stride_w - d->pad_left;
  for (int32_t c = 0; c < d->in_channels; ++c) {
    const int8_t* plane = input + c * d->in_height * d->in_width;
    for (int32_t ky = 0; ky < d->kernel_h; ++ky) {
      const int32_t iy = y0 + ky * d->dilation_h;
      if (iy < 0 || iy >= d->in_height) {
        for (int32_t kx = 0; kx < d->kernel_w; ++kx, ++k) {
          col[column_index(k, j)] = 0;
        }
        continue;
      }
      const int8_t* row = plane + iy * d->in_width;
      for (int32_t kx = 0; kx < d->kernel_w; ++kx, ++k) {
        const int32_t ix = x0 + kx * d->dilation_w;
        col[column_index(k, j)] = (int16_t)((ix >= 0 && ix < d->in_width) ? row[ix] + offset : 0);
      }
    }
  }
}

/* four int8 weights from the end of a row that may stop short of a quad (no read past it) */
static inline uint32_t tail_weights(const int8_t* w, int32_t count)
{
  uint32_t v = 0;
  for (int32_t i = 0; i < count; ++i) {
    v |= (uint32_t)(uint8_t)w[i] << (8 * i);
  }
  return v;
}

int stm32dvfs_conv2d_s8(const stm32dvfs_conv2d_args* args)
{
  const stm32dvfs_conv_dims* d = &args->dims;
  const int32_t depth = stm32dvfs_conv_depth(d);
  const int32_t quads = depth / 4;
  const int32_t rest = depth - 4 * quads;
  const int32_t pixels = d->out_height * d->out_width;
  const int32_t in_plane = d->in_height * d->in_width;
  const int32_t offset = -args->input_zero_point;
  const int32_t fast = args->requant.fast;
  const int32_t act_min = args->requant.act_min, act_max = args->requant.act_max;
  int16_t* col = (int16_t*)(void*)args->buffer;
  const int pointwise = d->kernel_h == 1 && d->kernel_w == 1 && d->stride_h == 1 && d->stride_w == 1 &&
                        d->pad_top == 0 && d->pad_left == 0 && d->out_height == d->in_height &&
                        d->out_width == d->in_width;

  for (int32_t n = 0; n < d->batches; ++n) {
    const int8_t* input = args->input + n * d->in_channels * in_plane;
    int8_t* output = args->output + n * d->out_channels * pixels;
    const int8_t* residual = args->residual.input ? args->residual.input + n * d->out_channels * pixels : 0;
    for (int32_t p0 = 0; p0 < pixels; p0 += 4) {
      const int32_t count = pixels - p0 < 4 ? pixels - p0 : 4;
      if (pointwise && count == 4) {
        im2col_pointwise(input + p0, d->in_channels, in_plane, offset, col);
      } else {
        for (int32_t j = 0; j < 4; ++j) {
          const int32_t p = p0 + (j < count ? j : 0); /* missing pixels: any valid column, not stored */
          im2col_pixel(input, d, offset, p / d->out_width, p % d->out_width, col, j);
        }
      }
      if (rest && !(pointwise && count == 4)) { /* the last quad's padding columns are 0 */
        for (int32_t j = 0; j < 4; ++j) {
          for (int32_t k = depth; k < 4 * quads + 4; ++k) {
            col[column_index(k, j)] = 0;
          }
        }
      }
      for (int32_t o = 0; o < d->out_channels; ++o) {
        const int8_t* w = args->weights + o * depth;
        const int32_t b = args->bias[o];
        int32_t a0 = b, a1 = b, a2 = b, a3 = b;
        const uint32_t* x = (const uint32_t*)(const void*)col;
        for (int32_t q = 0; q < quads; ++q, w += 4, x += 8) {
          const uint32_t w4 = stm32dvfs_nn_read_u32(w);
          const uint32_t w02 = stm32dvfs_nn_sxtb16(w4), w13 = stm32dvfs_nn_sxtb16_ror8(w4);
          a0 = stm32dvfs_nn_smlad(x[0], w02, a0);
          a0 = stm32dvfs_nn_smlad(x[1], w13, a0);
          a1 = stm32dvfs_nn_smlad(x[2], w02, a1);
          a1 = stm32dvfs_nn_smlad(x[3], w13, a1);
          a2 = stm32dvfs_nn_smlad(x[4], w02, a2);
          a2 = stm32dvfs_nn_smlad(x[5], w13, a2);
          a3 = stm32dvfs_nn_smlad(x[6], w02, a3);
          a3 = stm32dvfs_nn_smlad(x[7], w13, a3);
        }
        if (rest) {
          const uint32_t w4 = tail_weights(w, rest);
          const uint32_t w02 = stm32dvfs_nn_sxtb16(w4), w13 = stm32dvfs_nn_sxtb16_ror8(w4);
          a0 = stm32dvfs_nn_smlad(x[1], w13, stm32dvfs_nn_smlad(x[0], w02, a0));
          a1 = stm32dvfs_nn_smlad(x[3], w13, stm32dvfs_nn_smlad(x[2], w02, a1));
          a2 = stm32dvfs_nn_smlad(x[5], w13, stm32dvfs_nn_smlad(x[4], w02, a2));
          a3 = stm32dvfs_nn_smlad(x[7], w13, stm32dvfs_nn_smlad(x[6], w02, a3));
        }
        const stm32dvfs_requant_channel rq = stm32dvfs_requant_prepare(&args->requant, o);
        const int32_t acc[4] = {a0, a1, a2, a3};
        int8_t* out = output + o * pixels + p0;
        for (int32_t j = 0; j < count; ++j) {
          int32_t y = stm32dvfs_requant_apply(acc[j], rq, fast, act_min, act_max);
          if (residual) {
            y = stm32dvfs_residual_apply(&args->residual, y, residual[o * pixels + p0 + j]);
          }
          out[j] = (int8_t)y;
        }
      }
    }
  }
  return STM32DVFS_OK;
}
