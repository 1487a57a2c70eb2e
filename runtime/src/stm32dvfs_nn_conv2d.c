/**
 * @file stm32dvfs_nn_conv2d.c
 * @brief stm32dvfs_conv2d_s8: regular int8 convolution, im2col of four pixels + 4x1 SMLAD blocks.
 *
 * The scratch holds the int16 im2col columns of four consecutive output pixels (raster order,
 * possibly across output rows), zero point subtracted, padding 0. Column k of pixel j sits at
 * int16 index 16 * (k / 4) + 4 * j + {0, 2, 1, 3}[k % 4]: per reduction quad the four pixels'
 * operands are adjacent (32 bytes, one pointer walks them), and each pixel's quad is the pair
 * (k, k+2) then the pair (k+1, k+3) — the pairs SXTB16 and SXTB16-ROR8 make of four int8 weights,
 * so the weights are read as int8, four per load, with no reordering, and the pairs SXTAB16 makes
 * of four int8 inputs, so a column is widened from its int8 bytes by one load and two SXTAB16.
 *
 * Per output channel the four pixels are one 4x1 block (stm32dvfs_nn_mac_4x1_s8: per quad one
 * weight load, two SXTB16, two four-word loads of the columns, eight SMLAD), requantised with the
 * channel's constants computed once per block.
 *
 * The columns are gathered through a small int8 staging area on the stack: for four interior
 * pixels of one output row (no padding in their windows, dilation 1 along x) each kernel row is
 * a word copy per pixel; any other pixel is gathered element by element with the padding set to
 * the input zero point (0 once widened).
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
  uint32_t* dst = (uint32_t*)(void*)col;
  const int8_t* src = input;
  int32_t c = 0;
  for (; c + 4 <= channels; c += 4, dst += 8, src += 4 * plane) {
    for (int32_t half = 0; half < 2; ++half) { /* half 0: channels c, c+2; half 1: c+1, c+3 */
      const uint32_t a = stm32dvfs_nn_read_u32(src + half * plane);
      const uint32_t b = stm32dvfs_nn_read_u32(src + (half + 2) * plane);
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

/* Widen ``quads`` quads of the four staged int8 columns into the scratch. */
static void widen_staged(const uint8_t* stage, int32_t quads, uint32_t off2, uint32_t* col)
{
  for (int32_t q = 0; q < quads; ++q, col += 8, stage += 4) {
    const uint32_t x0 = stm32dvfs_nn_read_u32(stage), x1 = stm32dvfs_nn_read_u32(stage + STM32DVFS_NN_STAGE_STRIDE);
    const uint32_t x2 = stm32dvfs_nn_read_u32(stage + 2 * STM32DVFS_NN_STAGE_STRIDE);
    const uint32_t x3 = stm32dvfs_nn_read_u32(stage + 3 * STM32DVFS_NN_STAGE_STRIDE);
    col[0] = stm32dvfs_nn_sxtab16(off2, x0);
    col[1] = stm32dvfs_nn_sxtab16_ror8(off2, x0);
    col[2] = stm32dvfs_nn_sxtab16(off2, x1);
    col[3] = stm32dvfs_nn_sxtab16_ror8(off2, x1);
    col[4] = stm32dvfs_nn_sxtab16(off2, x2);
    col[5] = stm32dvfs_nn_sxtab16_ror8(off2, x2);
    col[6] = stm32dvfs_nn_sxtab16(off2, x3);
    col[7] = stm32dvfs_nn_sxtab16_ror8(off2, x3);
  }
}

/* How im2col_block stages a layer's columns (computed once per call). */
typedef struct {
  int32_t depth;
  int32_t rows;       /* staged a kernel row at a time (kernel_w <= 16, dilation_w 1) */
  int32_t chunk_rows; /* kernel rows per chunk: their bytes a multiple of four, at most STM32DVFS_NN_STAGE_BYTES */
  int32_t chunk;      /* elements per chunk */
  uint32_t off2;      /* the pair (-zero point, -zero point) */
  uint32_t zp4;       /* four bytes of the zero point */
} im2col_plan;

static im2col_plan plan_im2col(const stm32dvfs_conv_dims* d, int32_t zero_point)
{
  im2col_plan pl;
  const int32_t kw = d->kernel_w;
  const int32_t unit = 4 / stm32dvfs_nn_gcd4(kw);
  pl.depth = stm32dvfs_conv_depth(d);
  pl.rows = kw <= 16 && d->dilation_w == 1;
  pl.chunk_rows = pl.rows ? unit * (STM32DVFS_NN_STAGE_BYTES / (unit * kw)) : 0;
  pl.chunk = pl.rows ? pl.chunk_rows * kw : STM32DVFS_NN_STAGE_BYTES;
  pl.off2 = stm32dvfs_nn_pack(-zero_point, -zero_point);
  pl.zp4 = 0x01010101u * (uint8_t)zero_point;
  return pl;
}

/* The columns of the four pixels p0 .. p0 + 3 (those past ``pixels`` repeat a valid one). */
static void im2col_block(const int8_t* input, const stm32dvfs_conv_dims* d, const im2col_plan* pl, int32_t zero_point,
                         int32_t p0, int32_t pixels, int16_t* col)
{
  uint8_t stage[4 * STM32DVFS_NN_STAGE_STRIDE] __attribute__((aligned(4)));
  const int32_t kw = d->kernel_w;
  const int32_t depth = pl->depth;
  int32_t y0[4], x0[4];
  {
    int32_t oy = p0 / d->out_width, ox = p0 - oy * d->out_width;
    for (int32_t j = 0; j < 4; ++j) {
      y0[j] = oy * d->stride_h - d->pad_top;
      x0[j] = ox * d->stride_w - d->pad_left;
      if (p0 + j + 1 < pixels && ++ox == d->out_width) { /* past the last pixel: repeat it */
        ox = 0;
        ++oy;
      }
    }
  }
  /* fast: four pixels of one row, every window inside the input, and the word copies (up to three
   * bytes past a window's last row) not past the input */
  const int32_t y_last = y0[0] + (d->kernel_h - 1) * d->dilation_h;
  const int fast = pl->rows && y0[3] == y0[0] && x0[3] == x0[0] + 3 * d->stride_w && y0[0] >= 0 &&
                   y_last < d->in_height && x0[0] >= 0 && x0[3] + kw <= d->in_width &&
                   (d->in_height - 1 - y_last) * d->in_width >= x0[3] + ((kw + 3) & ~3) - d->in_width;
  int inside[4] = {0, 0, 0, 0}; /* per pixel, as ``fast`` */
  if (!fast && pl->rows) {
    for (int32_t j = 0; j < 4; ++j) {
      const int32_t yl = y0[j] + (d->kernel_h - 1) * d->dilation_h;
      inside[j] = y0[j] >= 0 && yl < d->in_height && x0[j] >= 0 && x0[j] + kw <= d->in_width &&
                  (d->in_height - 1 - yl) * d->in_width >= x0[j] + ((kw + 3) & ~3) - d->in_width;
    }
  }
  uint32_t* dst = (uint32_t*)(void*)col;
  int32_t c = 0, ky = 0;
  for (int32_t k0 = 0; k0 < depth; k0 += pl->chunk) {
    const int32_t count = depth - k0 < pl->chunk ? depth - k0 : pl->chunk;
    if (pl->rows) {
      const int32_t segments = count / kw;
      if (fast) {
        stm32dvfs_nn_stage_rows_4(input + y0[0] * d->in_width + x0[0], d, c, ky, segments, stage);
      } else {
        for (int32_t j = 0; j < 4; ++j) {
          if (inside[j] && kw <= 4) {
            stm32dvfs_nn_stage_rows_word(input + y0[j] * d->in_width + x0[j], d, c, ky, segments, stage + j * STM32DVFS_NN_STAGE_STRIDE);
          } else {
            stm32dvfs_nn_stage_rows_1(input, d, zero_point, y0[j], x0[j], c, ky, segments, stage + j * STM32DVFS_NN_STAGE_STRIDE);
          }
        }
      }
      ky += segments; /* the next chunk's first kernel row */
      while (ky >= d->kernel_h) {
        ky -= d->kernel_h;
        ++c;
      }
    } else {
      for (int32_t j = 0; j < 4; ++j) {
        const int32_t p = p0 + j < pixels ? p0 + j : p0;
        const int32_t py = p / d->out_width;
        stm32dvfs_nn_stage_pixel(input, d, zero_point, py, p - py * d->out_width, k0, count, stage + j * STM32DVFS_NN_STAGE_STRIDE);
      }
    }
    if (count & 3) { /* the last quad's missing elements: the zero point, 0 once widened */
      for (int32_t j = 0; j < 4; ++j) {
        memcpy(stage + j * STM32DVFS_NN_STAGE_STRIDE + count, &pl->zp4, 4);
      }
    }
    widen_staged(stage, (count + 3) >> 2, pl->off2, dst);
    dst += 8 * ((count + 3) >> 2);
  }
}

#if STM32DVFS_NN_ASM
/* one reduction quad of a 4x1 block, its four int8 weights in wq: the 4 x 4 int16 operands in two
 * LDM, the weights as the pairs (w0, w2), (w1, w3), eight SMLAD */
#define STM32DVFS_NN_QUAD_4X1_BODY                 \
  "ldmia %[px]!, {%[x0], %[x1], %[x2], %[x3]}\n\t" \
  "sxtb16 %[v], %[wq]\n\t"                         \
  "sxtb16 %[wq], %[wq], ror #8\n\t"                \
  "smlad %[a0], %[x0], %[v], %[a0]\n\t"            \
  "smlad %[a0], %[x1], %[wq], %[a0]\n\t"           \
  "smlad %[a1], %[x2], %[v], %[a1]\n\t"            \
  "smlad %[a1], %[x3], %[wq], %[a1]\n\t"           \
  "ldmia %[px]!, {%[x0], %[x1], %[x2], %[x3]}\n\t" \
  "smlad %[a2], %[x0], %[v], %[a2]\n\t"            \
  "smlad %[a2], %[x1], %[wq], %[a2]\n\t"           \
  "smlad %[a3], %[x2], %[v], %[a3]\n\t"            \
  "smlad %[a3], %[x3], %[wq], %[a3]\n\t"
#define STM32DVFS_NN_QUAD_4X1 "ldr %[wq], [%[pw]], #4\n\t" STM32DVFS_NN_QUAD_4X1_BODY
#define STM32DVFS_NN_OPERANDS_4X1                                                                      \
  [a0] "+r"(*a0), [a1] "+r"(*a1), [a2] "+r"(*a2), [a3] "+r"(*a3), [px] "+r"(px), [pw] "+r"(w),        \
      [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [v] "=&r"(v), [wq] "+&r"(wv)
#endif

/**
 * a_j += sum over ``quads`` quads of column j . weights, then (``tail``: a last quad whose weights
 * are the word ``last``) one more quad: px walks the scratch (32 bytes per quad), w the channel's
 * int8 weights. Per quad one weight load, two SXTB16, two four-word LDM and eight SMLAD: 13
 * instructions per 16 MACs (inline assembly: LDM needs its four registers in ascending order).
 */
static inline __attribute__((always_inline)) void mac_4x1(const uint32_t* px, const int8_t* w, int32_t quads, int tail,
                                                          uint32_t last, int32_t* a0, int32_t* a1, int32_t* a2,
                                                          int32_t* a3)
{
#if STM32DVFS_NN_ASM
  register uint32_t x0 __asm__("r2");
  register uint32_t x1 __asm__("r3");
  register uint32_t x2 __asm__("r4");
  register uint32_t x3 __asm__("r5");
  uint32_t v, wv = 0;
  for (int32_t n = quads >> 1; n > 0; --n) {
    __asm__ volatile(STM32DVFS_NN_QUAD_4X1 STM32DVFS_NN_QUAD_4X1 : STM32DVFS_NN_OPERANDS_4X1 : : "memory");
  }
  if (quads & 1) {
    __asm__ volatile(STM32DVFS_NN_QUAD_4X1 : STM32DVFS_NN_OPERANDS_4X1 : : "memory");
  }
  if (tail) {
    wv = last;
    __asm__ volatile(STM32DVFS_NN_QUAD_4X1_BODY : STM32DVFS_NN_OPERANDS_4X1 : : "memory");
  }
#else
  int32_t* acc[4] = {a0, a1, a2, a3};
  for (int32_t q = 0; q < quads + (tail ? 1 : 0); ++q, px += 8, w += 4) {
    const uint32_t w4 = q < quads ? stm32dvfs_nn_read_u32(w) : last;
    const uint32_t w02 = stm32dvfs_nn_sxtb16(w4), w13 = stm32dvfs_nn_sxtb16_ror8(w4);
    for (int32_t j = 0; j < 4; ++j) {
      *acc[j] = stm32dvfs_nn_smlad(px[2 * j + 1], w13, stm32dvfs_nn_smlad(px[2 * j], w02, *acc[j]));
    }
  }
#endif
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

/**
 * Every output channel of the block whose columns are in ``col``: a 4x1 SMLAD block over the
 * reduction, requantised and stored (``count`` of the four pixels, at out + o * plane).
 */
static void channels_4x1(const stm32dvfs_conv2d_args* args, const uint32_t* col, int8_t* out, int32_t plane,
                         int32_t count, const int8_t* residual)
{
  const stm32dvfs_conv_dims* d = &args->dims;
  const stm32dvfs_requant* rq = &args->requant;
  const int32_t depth = stm32dvfs_conv_depth(d);
  const int32_t quads = depth >> 2, rest = depth & 3;
  const int32_t channels = d->out_channels;
  /* the usual case: fast rule, no clamp inside int8, no residual, four pixels */
  const int simple = rq->fast && rq->act_min == -128 && rq->act_max == 127 && !residual && count == 4;
  const int32_t zero_point = rq->zero_point;
  const int8_t* w = args->weights;
  for (int32_t o = 0; o < channels; ++o, w += depth, out += plane) {
    const int32_t b = args->bias[o];
    int32_t a0 = b, a1 = b, a2 = b, a3 = b;
    /* the last quad of a short row: a full word where four weight bytes are left in the layer's
     * weights (the extra ones, of the next channels, meet the 0 columns), else byte by byte */
    const int32_t left = rest + (channels - 1 - o) * depth;
    const uint32_t last = !rest ? 0 : (left >= 4 ? stm32dvfs_nn_read_u32(w + 4 * quads)
                                                 : tail_weights(w + 4 * quads, rest));
    mac_4x1(col, w, quads, rest, last, &a0, &a1, &a2, &a3);
    if (simple) {
      /* floor((floor(acc * M / 2^32) + c) / 2^s), saturated (stm32dvfs_requant_prepare) */
      const int32_t m = rq->multiplier[o];
      const int32_t s = -1 - rq->shift[o];
      const int32_t c = (int32_t)((1u << (s - 1)) + ((uint32_t)zero_point << s));
      out[0] = (int8_t)stm32dvfs_nn_sat8(stm32dvfs_nn_smmla(a0, m, c) >> s);
      out[1] = (int8_t)stm32dvfs_nn_sat8(stm32dvfs_nn_smmla(a1, m, c) >> s);
      out[2] = (int8_t)stm32dvfs_nn_sat8(stm32dvfs_nn_smmla(a2, m, c) >> s);
      out[3] = (int8_t)stm32dvfs_nn_sat8(stm32dvfs_nn_smmla(a3, m, c) >> s);
    } else {
      const stm32dvfs_requant_channel q = stm32dvfs_requant_prepare(rq, o);
      const int32_t acc[4] = {a0, a1, a2, a3};
      for (int32_t j = 0; j < count; ++j) {
        int32_t y = stm32dvfs_requant_apply(acc[j], q, rq->fast, rq->rounding, rq->act_min, rq->act_max);
        if (residual) {
          y = stm32dvfs_residual_apply(&args->residual, y, residual[o * plane + j]);
        }
        out[j] = (int8_t)y;
      }
    }
  }
}

int stm32dvfs_conv2d_s8(const stm32dvfs_conv2d_args* args)
{
  const stm32dvfs_conv_dims* d = &args->dims;
  const int32_t pixels = d->out_height * d->out_width;
  const int32_t in_plane = d->in_height * d->in_width;
  const int32_t offset = -args->input_zero_point;
  int16_t* col = (int16_t*)(void*)args->buffer;
  const int pointwise = d->kernel_h == 1 && d->kernel_w == 1 && d->stride_h == 1 && d->stride_w == 1 &&
                        d->pad_top == 0 && d->pad_left == 0 && d->out_height == d->in_height &&
                        d->out_width == d->in_width;
  const im2col_plan plan = plan_im2col(d, args->input_zero_point);

  for (int32_t n = 0; n < d->batches; ++n) {
    const int8_t* input = args->input + n * d->in_channels * in_plane;
    int8_t* output = args->output + n * d->out_channels * pixels;
    const int8_t* residual = args->residual.input ? args->residual.input + n * d->out_channels * pixels : 0;
    for (int32_t p0 = 0; p0 < pixels; p0 += 4) {
      const int32_t count = pixels - p0 < 4 ? pixels - p0 : 4;
      if (pointwise && count == 4) {
        im2col_pointwise(input + p0, d->in_channels, in_plane, offset, col);
      } else {
        im2col_block(input, d, &plan, args->input_zero_point, p0, pixels, col);
      }
      channels_4x1(args, (const uint32_t*)(const void*)col, output + p0, pixels, count,
                   residual ? residual + p0 : 0);
    }
  }
  return STM32DVFS_OK;
}
