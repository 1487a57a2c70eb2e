/**
 * @file stm32dvfs_nn_tiles.h
 * @brief Decoupled access-execute micro-kernels: per tile, an access phase that lays the
 *        operands out in SRAM exactly as the execute phase reads them, and an execute phase of
 *        loads and multiply-accumulates only.
 *
 * A tile is ``tile_rows`` output rows (all columns) by ``tile_channels`` output channels of a
 * layer (stm32dvfs_conv2d_args / stm32dvfs_dense_args); its buffers live in ``args->buffer`` at
 * the offsets of the layer's layout function, whose ``bytes`` is the scratch the compiler plans.
 *
 * Regular convolution (and 1x1), K = in_channels * kernel_h * kernel_w, in pairs:
 * - the reduction is paired per quad: elements (4q, 4q+2) form pair 2q and (4q+1, 4q+3) pair
 *   2q+1 — the pairs SXTAB16 and its ROR-8 form make of four int8 — and a last quad of two elements
 *   is the one pair (4q, 4q+1); missing elements are 0 (stm32dvfs_conv_tile_slot);
 * - access input: the tile's im2col columns, int16, zero point subtracted, padding 0, in blocks
 *   of four pixels: word (block * kpairs + k) * 4 + j holds pair k of pixel j;
 * - access weights: the tile's weights widened once, word (pair * kpairs + k) * 2 + i holding
 *   pair k of channel 2 * pair + i; with them the per-channel-pair requantisation table;
 * - execute: 4 pixels x 2 channels per block, eight accumulators in registers, per pair of
 *   reduction elements three LDRD and eight SMLAD (0.69 instructions per MAC), requantised as
 *   they are stored.
 * Depthwise: the tile's padded input rows as int16 (3x3 kernels: split into the even and the odd
 * columns, so that both outputs of a pair read their taps as aligned pairs), the weights as pairs.
 *
 * The functions are static inline: a generated kernel calls them with a constant argument
 * struct, so the compiler specialises each to its layer's shapes (loop bounds, strides and the
 * reduction length become constants; a short reduction is unrolled completely).
 */
#ifndef STM32DVFS_NN_TILES_H
#define STM32DVFS_NN_TILES_H

#include <stdint.h>

#include "stm32dvfs_nn.h"

/* ``a``: a local copy of the layer's arguments ``layer`` points to. Its fields stay compile-time
 * constants (the generated kernel passes a constant struct) whatever the callees do with pointers. */
#define STM32DVFS_NN_LOCAL_ARGS(a, layer)             \
  const stm32dvfs_conv2d_args a##_local = *(layer); \
  const stm32dvfs_conv2d_args* a = &a##_local

/* ``a`` as above, its dims ``d`` and the tile layout ``l`` of a depthwise layer: what each phase of
 * a depthwise tile starts from. */
#define STM32DVFS_NN_DEPTHWISE_TILE(a, d, l, layer) \
  STM32DVFS_NN_LOCAL_ARGS(a, layer);                \
  const stm32dvfs_conv_dims* d = &a->dims;          \
  const stm32dvfs_tile_layout l = stm32dvfs_depthwise_tile_layout(d, a->tile_rows, a->tile_channels, 0)

/** Where a tile's buffers are in ``args->buffer`` (byte offsets) and how big they are. */
typedef struct {
  int32_t depth;   /**< MACs per output */
  int32_t kpairs;  /**< depth in pairs (rounded up) */
  int32_t pixels;  /**< output pixels per tile */
  int32_t blocks;  /**< pixels in blocks of four (rounded up) */
  int32_t pairs;   /**< tile channels in pairs (rounded up) */
  int32_t table;   /**< requantisation table */
  int32_t weights; /**< widened weights */
  int32_t input;   /**< laid-out input */
  int32_t row;     /**< depthwise: bytes of one input row; dense: bytes of one input row */
  int32_t in_rows; /**< depthwise: input rows a tile reads (0 otherwise) */
  int32_t staging; /**< raw weight slice brought in by DMA (when staged) */
  int32_t bytes;   /**< total */
} stm32dvfs_tile_layout;

STM32DVFS_NN_INLINE int32_t stm32dvfs_round8(int32_t n) { return (n + 7) & ~7; }

/** Layout of a regular convolution tile (``staged``: with a DMA staging area). */
STM32DVFS_NN_INLINE stm32dvfs_tile_layout stm32dvfs_conv2d_tile_layout(const stm32dvfs_conv_dims* d, int32_t tile_rows,
                                                                  int32_t tile_channels, int32_t staged)
{
  stm32dvfs_tile_layout l;
  l.in_rows = 0;
  l.depth = d->in_channels * d->kernel_h * d->kernel_w;
  l.kpairs = (l.depth + 1) / 2;
  l.pixels = tile_rows * d->out_width;
  l.blocks = (l.pixels + 3) / 4;
  l.pairs = (tile_channels + 1) / 2;
  l.table = 0;
  l.weights = 32 * l.pairs;
  l.input = l.weights + 8 * l.pairs * l.kpairs;
  l.row = 0;
  l.staging = l.input + 16 * l.blocks * l.kpairs;
  l.bytes = stm32dvfs_round8(l.staging + (staged ? tile_channels * l.depth : 0));
  return l;
}

/** Whether a depthwise tile runs the 3x3 micro-kernels (dilation 1, stride 1 or 2 both ways). */
STM32DVFS_NN_INLINE int32_t stm32dvfs_depthwise_tile_is_3x3(const stm32dvfs_conv_dims* d)
{
  return d->kernel_h == 3 && d->kernel_w == 3 && d->dilation_h == 1 && d->dilation_w == 1 &&
         d->stride_h == d->stride_w && (d->stride_h == 1 || d->stride_h == 2);
}

/** Layout of a depthwise tile: per channel a table entry {bias, m, c, s}, its weights and its rows. */
STM32DVFS_NN_INLINE stm32dvfs_tile_layout stm32dvfs_depthwise_tile_layout(const stm32dvfs_conv_dims* d, int32_t tile_rows,
                                                                     int32_t tile_channels, int32_t staged)
{
  stm32dvfs_tile_layout l;
  const int32_t in_rows = stm32dvfs_window(tile_rows, d->stride_h, d->kernel_h, d->dilation_h);
  const int32_t in_cols = stm32dvfs_window(d->out_width, d->stride_w, d->kernel_w, d->dilation_w);
  int32_t weight_bytes;
  /* the columns as int16, rounded up to a whole number of 8-byte groups plus one (the SIMD loops
   * read four columns at a time, and one group ahead) */
  l.row = 8 * ((in_cols + 3) / 4 + 1);
  l.in_rows = in_rows;
  if (stm32dvfs_depthwise_tile_is_3x3(d)) {
    weight_bytes = 24; /* per kernel row the pairs (w0, w1), (w1, w2) */
  } else {
    weight_bytes = 2 * d->kernel_h * ((d->kernel_w + 1) / 2 * 2);
  }
  l.depth = d->kernel_h * d->kernel_w;
  l.kpairs = 0;
  l.pixels = tile_rows * d->out_width;
  l.blocks = 0;
  l.pairs = tile_channels;
  l.table = 0;
  l.weights = 16 * tile_channels;
  l.input = l.weights + tile_channels * weight_bytes;
  l.staging = l.input + tile_channels * in_rows * l.row;
  l.bytes = stm32dvfs_round8(l.staging + (staged ? tile_channels * l.depth : 0));
  return l;
}

/** Layout of a dense tile: the requantisation table, the widened weights, the widened input. */
STM32DVFS_NN_INLINE stm32dvfs_tile_layout stm32dvfs_dense_tile_layout(int32_t batches, int32_t in_features,
                                                                 int32_t tile_channels, int32_t staged)
{
  stm32dvfs_tile_layout l;
  l.in_rows = 0;
  l.depth = in_features;
  l.kpairs = (in_features + 1) / 2;
  l.pixels = batches;
  l.blocks = 0;
  l.pairs = (tile_channels + 1) / 2;
  l.table = 0;
  l.weights = 32 * l.pairs;
  l.input = l.weights + 8 * l.pairs * l.kpairs;
  l.row = 4 * l.kpairs;
  l.staging = l.input + batches * l.row;
  l.bytes = stm32dvfs_round8(l.staging + (staged ? tile_channels * in_features : 0));
  return l;
}

/** Scratch bytes of a decoupled convolution / depthwise / dense layer at one tile size. */
STM32DVFS_NN_INLINE int32_t stm32dvfs_conv2d_tile_buffer_size(const stm32dvfs_conv_dims* d, int32_t tile_rows,
                                                        int32_t tile_channels, int32_t staged)
{
  return stm32dvfs_conv2d_tile_layout(d, tile_rows, tile_channels, staged).bytes;
}

STM32DVFS_NN_INLINE int32_t stm32dvfs_depthwise_tile_buffer_size(const stm32dvfs_conv_dims* d, int32_t tile_rows,
                                                           int32_t tile_channels, int32_t staged)
{
  return stm32dvfs_depthwise_tile_layout(d, tile_rows, tile_channels, staged).bytes;
}

STM32DVFS_NN_INLINE int32_t stm32dvfs_dense_tile_buffer_size(int32_t batches, int32_t in_features, int32_t tile_channels,
                                                       int32_t staged)
{
  return stm32dvfs_dense_tile_layout(batches, in_features, tile_channels, staged).bytes;
}

/* ------------------------------------------------------------------ shared pieces */

/** The requantisation table of a pair of channels, filled by the weights access. */
typedef struct {
  int32_t bias[2];
  stm32dvfs_requant_channel q[2];
} stm32dvfs_requant_pair;

STM32DVFS_NN_INLINE void stm32dvfs_nn_fill_table(stm32dvfs_requant_pair* table, const stm32dvfs_requant* rq,
                                                 const int32_t* bias, int32_t channel0, int32_t channels)
{
  for (int32_t i = 0; i < 2 * ((channels + 1) / 2); ++i) {
    stm32dvfs_requant_pair* t = table + i / 2;
    if (i < channels) {
      const stm32dvfs_requant_channel q = stm32dvfs_requant_prepare(rq, channel0 + i);
      t->bias[i & 1] = bias[channel0 + i];
      t->q[i & 1] = q;
    } else { /* the phantom channel of an odd tile: computed, never stored */
      t->bias[i & 1] = 0;
      t->q[i & 1].m = 0;
      t->q[i & 1].c = 0;
      t->q[i & 1].s = 1;
    }
  }
}

STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_requant_from(int32_t acc, const stm32dvfs_requant_pair* t, int32_t i,
                                                      const stm32dvfs_requant* rq)
{
  return stm32dvfs_requant_apply(acc, t->q[i], rq->fast, rq->rounding, rq->act_min, rq->act_max);
}

/** Where reduction element k of a regular convolution tile sits in a pixel's (or a channel's) run
 *  of pairs, as an int16 index: pair * 2 + half (the pair order of the file comment). */
STM32DVFS_NN_INLINE int32_t stm32dvfs_conv_tile_slot(int32_t k, int32_t depth)
{
  const int32_t q = k >> 2, i = k & 3;
  if ((depth & 3) == 2 && q == depth >> 2) {
    return 4 * q + i; /* a last quad of two elements: one natural pair */
  }
  return 4 * q + 2 * (i & 1) + (i >> 1);
}

/**
 * Rows of int8 weights (``rows`` of ``depth``, row i at src + i * depth) widened into pairs: word
 * (pair * kpairs + k) * 2 + (i & 1) of ``dst`` holds pair k of row i — (w[2k], w[2k+1]), or with
 * ``quads`` the convolution order (stm32dvfs_conv_tile_slot); a missing element (odd depth, odd
 * row count) is 0.
 */
STM32DVFS_NN_INLINE void stm32dvfs_nn_widen_weight_pairs(const int8_t* src, int32_t rows, int32_t depth, uint32_t* dst,
                                                         int32_t quads)
{
  const int32_t kpairs = (depth + 1) / 2;
  const int32_t full = depth / 4;
  for (int32_t i = 0; i < 2 * ((rows + 1) / 2); ++i) {
    uint32_t* out = dst + (i / 2) * kpairs * 2 + (i & 1);
    if (i >= rows) {
      for (int32_t k = 0; k < kpairs; ++k) {
        out[2 * k] = 0;
      }
      continue;
    }
    const int8_t* w = src + i * depth;
    for (int32_t q = 0; q < full; ++q) {
      const uint32_t w4 = stm32dvfs_nn_read_u32(w + 4 * q);
      const uint32_t w02 = stm32dvfs_nn_sxtb16(w4), w13 = stm32dvfs_nn_sxtb16_ror8(w4);
      if (quads) {
        out[4 * q] = w02;     /* (w0, w2) */
        out[4 * q + 2] = w13; /* (w1, w3) */
      } else {
        out[4 * q] = stm32dvfs_nn_pkhbt(w02, w13);     /* (w0, w1) */
        out[4 * q + 2] = stm32dvfs_nn_pkhtb(w02, w13); /* (w2, w3) */
      }
    }
    if (full * 4 < depth) { /* the last, partial quad */
      int16_t lanes[4] = {0, 0, 0, 0};
      for (int32_t k = 4 * full; k < depth; ++k) {
        lanes[quads ? stm32dvfs_conv_tile_slot(k, depth) - 4 * full : k - 4 * full] = w[k];
      }
      for (int32_t k = 2 * full; k < kpairs; ++k) {
        out[2 * k] = stm32dvfs_nn_pack(lanes[2 * (k - 2 * full)], lanes[2 * (k - 2 * full) + 1]);
      }
    }
  }
}

/* ------------------------------------------------------------------ im2col staging
 *
 * The columns of a regular convolution are gathered four output pixels at a time as int8 into a
 * small staging area on the stack (per pixel a run of its column, STM32DVFS_NN_STAGE_BYTES at a time,
 * the padding the input zero point), then widened from there — one word load and two SXTAB16 per
 * four elements — into whichever int16 layout the kernel reads. A kernel row of a window is
 * kernel_w contiguous input bytes (dilation_w 1): where the window is inside the input it is
 * copied a word at a time (the copies may read up to three bytes past it; callers check that this
 * stays inside the input), elsewhere byte by byte with bounds checks. */

/** Bytes of one pixel's column per staging chunk, and the distance between pixels' areas (the
 *  chunk plus slack for the word copies of its last kernel row). */
#define STM32DVFS_NN_STAGE_BYTES 64
#define STM32DVFS_NN_STAGE_STRIDE 72

/* Any pixel, any shape: elements [k0, k0 + count) of its column into its staging area, element by
 * element, the padding the zero point. */
STM32DVFS_NN_INLINE void stm32dvfs_nn_stage_pixel(const int8_t* input, const stm32dvfs_conv_dims* d, int32_t zero_point, int32_t oy,
                        int32_t ox, int32_t k0, int32_t count, uint8_t* stage)
{
  const int32_t taps = d->kernel_h * d->kernel_w;
  const int32_t y0 = oy * d->stride_h - d->pad_top;
  const int32_t x0 = ox * d->stride_w - d->pad_left;
  for (int32_t i = 0; i < count; ++i) {
    const int32_t k = k0 + i;
    const int32_t c = k / taps, t = k - c * taps;
    const int32_t ky = t / d->kernel_w, kx = t - ky * d->kernel_w;
    const int32_t iy = y0 + ky * d->dilation_h, ix = x0 + kx * d->dilation_w;
    const int inside = iy >= 0 && iy < d->in_height && ix >= 0 && ix < d->in_width;
    stage[i] = (uint8_t)(inside ? input[(c * d->in_height + iy) * d->in_width + ix] : zero_point);
  }
}

/* One pixel whose window may cross the padding: ``segments`` kernel rows from (c, ky) (kernel_w
 * bytes each, dilation_w 1), bounds checked per row and per byte. */
STM32DVFS_NN_INLINE void stm32dvfs_nn_stage_rows_1(const int8_t* input, const stm32dvfs_conv_dims* d, int32_t zero_point, int32_t y0,
                         int32_t x0, int32_t c, int32_t ky, int32_t segments, uint8_t* stage)
{
  const int32_t kw = d->kernel_w;
  /* the columns [lo, hi) of the window inside the input */
  const int32_t lo = x0 < 0 ? -x0 : 0;
  const int32_t hi = x0 + kw > d->in_width ? d->in_width - x0 : kw;
  for (int32_t r = 0; r < segments; ++r, stage += kw) {
    const int32_t iy = y0 + ky * d->dilation_h;
    if (iy < 0 || iy >= d->in_height || hi <= lo) {
      for (int32_t i = 0; i < kw; ++i) {
        stage[i] = (uint8_t)zero_point;
      }
    } else {
      const int8_t* row = input + (c * d->in_height + iy) * d->in_width + x0;
      for (int32_t i = 0; i < lo; ++i) {
        stage[i] = (uint8_t)zero_point;
      }
      for (int32_t i = lo; i < hi; ++i) {
        stage[i] = (uint8_t)row[i];
      }
      for (int32_t i = hi; i < kw; ++i) {
        stage[i] = (uint8_t)zero_point;
      }
    }
    if (++ky == d->kernel_h) {
      ky = 0;
      ++c;
    }
  }
}

/* four bytes of each of the four pixels (at p, p + s1, p + s2, p + s3) to their staging areas */
STM32DVFS_NN_INLINE void stm32dvfs_nn_copy_word_4(const int8_t* p, int32_t s1, int32_t s2, int32_t s3, uint8_t* stage)
{
  const uint32_t a = stm32dvfs_nn_read_u32(p), b = stm32dvfs_nn_read_u32(p + s1);
  const uint32_t e = stm32dvfs_nn_read_u32(p + s2), f = stm32dvfs_nn_read_u32(p + s3);
  memcpy(stage, &a, 4);
  memcpy(stage + STM32DVFS_NN_STAGE_STRIDE, &b, 4);
  memcpy(stage + 2 * STM32DVFS_NN_STAGE_STRIDE, &e, 4);
  memcpy(stage + 3 * STM32DVFS_NN_STAGE_STRIDE, &f, 4);
}

/* One interior pixel, kernel_w <= 4: ``segments`` kernel rows from (c, ky), a word copy each. */
STM32DVFS_NN_INLINE void stm32dvfs_nn_stage_rows_word(const int8_t* base, const stm32dvfs_conv_dims* d, int32_t c, int32_t ky, int32_t segments,
                            uint8_t* stage)
{
  const int32_t step = d->dilation_h * d->in_width;
  const int32_t jump = d->in_height * d->in_width - d->kernel_h * step;
  const int8_t* p = base + c * d->in_height * d->in_width + ky * step;
  for (int32_t r = 0; r < segments; ++r, stage += d->kernel_w) {
    const uint32_t a = stm32dvfs_nn_read_u32(p);
    memcpy(stage, &a, 4);
    p += step;
    if (++ky == d->kernel_h) {
      ky = 0;
      p += jump;
    }
  }
}

/* Four interior pixels of one output row (their windows inside the input, dilation_w 1):
 * ``segments`` kernel rows from (c, ky), each kernel_w bytes per pixel copied a word at a time. */
STM32DVFS_NN_INLINE void stm32dvfs_nn_stage_rows_4(const int8_t* base, const stm32dvfs_conv_dims* d, int32_t c, int32_t ky, int32_t segments,
                         uint8_t* stage)
{
  const int32_t kw = d->kernel_w;
  const int32_t step = d->dilation_h * d->in_width;                    /* next kernel row */
  const int32_t jump = d->in_height * d->in_width - d->kernel_h * step; /* from the last row to the next channel */
  const int32_t s1 = d->stride_w, s2 = 2 * d->stride_w, s3 = 3 * d->stride_w;
  const int8_t* p = base + c * d->in_height * d->in_width + ky * step;
  if (kw <= 4) { /* one word per kernel row and pixel */
    for (int32_t r = 0; r < segments; ++r, stage += kw) {
      stm32dvfs_nn_copy_word_4(p, s1, s2, s3, stage);
      p += step;
      if (++ky == d->kernel_h) {
        ky = 0;
        p += jump;
      }
    }
    return;
  }
  for (int32_t r = 0; r < segments; ++r, stage += kw) {
    /* written out rather than a loop over the words, which the compiler would make a memcpy call */
    stm32dvfs_nn_copy_word_4(p, s1, s2, s3, stage);
    stm32dvfs_nn_copy_word_4(p + 4, s1, s2, s3, stage + 4);
    if (kw > 8) {
      stm32dvfs_nn_copy_word_4(p + 8, s1, s2, s3, stage + 8);
    }
    if (kw > 12) {
      stm32dvfs_nn_copy_word_4(p + 12, s1, s2, s3, stage + 12);
    }
    p += step;
    if (++ky == d->kernel_h) {
      ky = 0;
      p += jump;
    }
  }
}

/* greatest power of two dividing n, at most 4 */
STM32DVFS_NN_INLINE int32_t stm32dvfs_nn_gcd4(int32_t n)
{
  return (n & 3) == 0 ? 4 : ((n & 1) == 0 ? 2 : 1);
}

/* ------------------------------------------------------------------ the 4x2 execute core */

#if STM32DVFS_NN_ASM
/* One pair of reduction elements for a block of 4 pixels x 2 channels, after ``load_w`` has put the
 * two channel words in w0, w1: px points at the block's four pixel words of this pair; 2 loads,
 * 8 SMLAD. */
#define STM32DVFS_NN_SMLAD_4X2(load_w)          \
  load_w                                          \
  "ldrd %[x0], %[x1], [%[px]], #16\n\t"          \
  "smlad %[a00], %[x0], %[w0], %[a00]\n\t"       \
  "smlad %[a01], %[x0], %[w1], %[a01]\n\t"       \
  "smlad %[a10], %[x1], %[w0], %[a10]\n\t"       \
  "smlad %[a11], %[x1], %[w1], %[a11]\n\t"       \
  "ldrd %[x0], %[x1], [%[px], #-8]\n\t"          \
  "smlad %[a20], %[x0], %[w0], %[a20]\n\t"       \
  "smlad %[a21], %[x0], %[w1], %[a21]\n\t"       \
  "smlad %[a30], %[x1], %[w0], %[a30]\n\t"       \
  "smlad %[a31], %[x1], %[w1], %[a31]\n\t"
/* ... with the weights read from pw, which advances */
#define STM32DVFS_NN_KPAIR_4X2 STM32DVFS_NN_SMLAD_4X2("ldrd %[w0], %[w1], [%[pw]], #8\n\t")
#define STM32DVFS_NN_OPERANDS_4X2                                                                        \
  [a00] "+r"(acc[0]), [a01] "+r"(acc[1]), [a10] "+r"(acc[2]), [a11] "+r"(acc[3]), [a20] "+r"(acc[4]),   \
      [a21] "+r"(acc[5]), [a30] "+r"(acc[6]), [a31] "+r"(acc[7]), [px] "+r"(px), [pw] "+r"(pw),         \
      [w0] "=&r"(w0), [w1] "=&r"(w1), [x0] "=&r"(x0), [x1] "=&r"(x1)
/* The same with one pixel word at a time (4 LDR instead of 2 LDRD): thirteen registers, so that
 * the compiler keeps one free for the loop counter of a long reduction. */
#define STM32DVFS_NN_KPAIR_4X2_LOOP             \
  "ldrd %[w0], %[w1], [%[pw]], #8\n\t"           \
  "ldr %[x0], [%[px]], #4\n\t"                   \
  "smlad %[a00], %[x0], %[w0], %[a00]\n\t"       \
  "smlad %[a01], %[x0], %[w1], %[a01]\n\t"       \
  "ldr %[x0], [%[px]], #4\n\t"                   \
  "smlad %[a10], %[x0], %[w0], %[a10]\n\t"       \
  "smlad %[a11], %[x0], %[w1], %[a11]\n\t"       \
  "ldr %[x0], [%[px]], #4\n\t"                   \
  "smlad %[a20], %[x0], %[w0], %[a20]\n\t"       \
  "smlad %[a21], %[x0], %[w1], %[a21]\n\t"       \
  "ldr %[x0], [%[px]], #4\n\t"                   \
  "smlad %[a30], %[x0], %[w0], %[a30]\n\t"       \
  "smlad %[a31], %[x0], %[w1], %[a31]\n\t"
#define STM32DVFS_NN_OPERANDS_4X2_LOOP                                                                   \
  [a00] "+r"(acc[0]), [a01] "+r"(acc[1]), [a10] "+r"(acc[2]), [a11] "+r"(acc[3]), [a20] "+r"(acc[4]),   \
      [a21] "+r"(acc[5]), [a30] "+r"(acc[6]), [a31] "+r"(acc[7]), [px] "+r"(px), [pw] "+r"(pw),         \
      [w0] "=&r"(w0), [w1] "=&r"(w1), [x0] "=&r"(x0)
#endif

/**
 * acc[2 * j + i] += sum over k < kpairs of SMLAD(x[4k + j], w[2k + i]) (j: pixel, i: channel).
 * Returns x advanced past the block. With the DSP extension the loop body is inline assembly —
 * eight accumulators, two pointers and four operands use all fourteen allocatable registers, which
 * C leaves the compiler no room to schedule — and a reduction known at compile time (<= 48 pairs)
 * is unrolled completely, with no loop counter.
 */
STM32DVFS_NN_INLINE const uint32_t* stm32dvfs_nn_mac_4x2(const uint32_t* px, const uint32_t* pw, int32_t kpairs,
                                                         int32_t acc[8])
{
#if STM32DVFS_NN_ASM
  uint32_t w0, w1, x0, x1;
  /* the count must be a constant: only after inlining and constant propagation */
  if (__builtin_constant_p(kpairs) && kpairs <= 48) {
    __asm__ volatile(".rept %c[n]\n\t" STM32DVFS_NN_KPAIR_4X2 ".endr\n\t"
                     : STM32DVFS_NN_OPERANDS_4X2
                     : [n] "i"(kpairs)
                     : "memory");
    return px;
  }
  if (kpairs >= 4) {
    /* four pairs per iteration; the loop ends when pw reaches ``end``, read from memory into a
     * scratch register (all fourteen are taken) */
    const uint32_t* const end = pw + 2 * (kpairs & ~3);
    __asm__ volatile("1:\n\t" STM32DVFS_NN_KPAIR_4X2 STM32DVFS_NN_KPAIR_4X2 STM32DVFS_NN_KPAIR_4X2
                     STM32DVFS_NN_KPAIR_4X2 "ldr %[x0], %[end]\n\t"
                     "cmp %[pw], %[x0]\n\t"
                     "bne 1b\n\t"
                     : STM32DVFS_NN_OPERANDS_4X2
                     : [end] "m"(end)
                     : "memory", "cc");
  }
  for (int32_t k = kpairs & 3; k > 0; --k) {
    __asm__ volatile(STM32DVFS_NN_KPAIR_4X2_LOOP : STM32DVFS_NN_OPERANDS_4X2_LOOP : : "memory");
  }
  return px;
#else
  for (int32_t k = 0; k < kpairs; ++k, px += 4, pw += 2) {
    for (int32_t j = 0; j < 4; ++j) {
      acc[2 * j] = stm32dvfs_nn_smlad(px[j], pw[0], acc[2 * j]);
      acc[2 * j + 1] = stm32dvfs_nn_smlad(px[j], pw[1], acc[2 * j + 1]);
    }
  }
  return px;
#endif
}

#if STM32DVFS_NN_ASM
/* The first pair of reduction elements of a 4x2 block, starting from the bias pair whose address
 * a00 holds on entry (fourteen registers leave none for the pointer): pixels 2 and 3 first, so
 * that a00 / a01 hold the bias until pixels 1 and 0 read them. */
#define STM32DVFS_NN_KPAIR0_4X2                  \
  "ldrd %[a00], %[a01], [%[a00]]\n\t"            \
  "ldrd %[w0], %[w1], [%[pw]]\n\t"               \
  "ldrd %[x0], %[x1], [%[px], #8]\n\t"           \
  "smlad %[a20], %[x0], %[w0], %[a00]\n\t"       \
  "smlad %[a21], %[x0], %[w1], %[a01]\n\t"       \
  "smlad %[a30], %[x1], %[w0], %[a00]\n\t"       \
  "smlad %[a31], %[x1], %[w1], %[a01]\n\t"       \
  "ldrd %[x0], %[x1], [%[px]], #16\n\t"          \
  "smlad %[a10], %[x1], %[w0], %[a00]\n\t"       \
  "smlad %[a11], %[x1], %[w1], %[a01]\n\t"       \
  "smlad %[a00], %[x0], %[w0], %[a00]\n\t"       \
  "smlad %[a01], %[x0], %[w1], %[a01]\n\t"
/* pair k >= 1, the channel pair's weights at a constant offset from pw (which stays put) */
#define STM32DVFS_NN_KPAIRK_4X2                                                  \
  STM32DVFS_NN_SMLAD_4X2("ldrd %[w0], %[w1], [%[pw], #.Lstm32dvfs_k]\n\t") \
  ".set .Lstm32dvfs_k, .Lstm32dvfs_k + 8\n\t"
#endif

/**
 * acc[2 * j + i] = bias[i] (also given as b0, b1) + sum over k < kpairs of SMLAD(x[4k + j], w[2k + i]): as
 * stm32dvfs_nn_mac_4x2, the accumulators starting from the bias pair. Unrolled (a constant
 * reduction of at most 48 pairs) the bias is loaded by the first pair's LDRD straight into two
 * accumulators, and the weights are read at constant offsets from pw, which is not advanced.
 */
STM32DVFS_NN_INLINE const uint32_t* stm32dvfs_nn_mac_4x2_bias(const uint32_t* px, const uint32_t* pw,
                                                              const int32_t* bias, int32_t b0, int32_t b1,
                                                              int32_t kpairs, int32_t acc[8])
{
#if STM32DVFS_NN_ASM
  if (__builtin_constant_p(kpairs) && kpairs >= 1 && kpairs <= 48) {
    uint32_t w0, w1, x0, x1;
    int32_t a00 = (int32_t)(intptr_t)bias, a01;
    __asm__ volatile(STM32DVFS_NN_KPAIR0_4X2 ".set .Lstm32dvfs_k, 8\n\t"
                     ".rept %c[n] - 1\n\t" STM32DVFS_NN_KPAIRK_4X2 ".endr\n\t"
                     : [a00] "+&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(acc[2]), [a11] "=&r"(acc[3]),
                       [a20] "=&r"(acc[4]), [a21] "=&r"(acc[5]), [a30] "=&r"(acc[6]), [a31] "=&r"(acc[7]),
                       [px] "+r"(px), [pw] "+r"(pw), [w0] "=&r"(w0), [w1] "=&r"(w1), [x0] "=&r"(x0), [x1] "=&r"(x1)
                     : [n] "i"(kpairs)
                     : "memory");
    acc[0] = a00;
    acc[1] = a01;
    return px;
  }
#endif
  (void)bias;
  for (int32_t j = 0; j < 4; ++j) {
    acc[2 * j] = b0;
    acc[2 * j + 1] = b1;
  }
  return stm32dvfs_nn_mac_4x2(px, pw, kpairs, acc);
}

/* ------------------------------------------------------------------ regular convolution */

/**
 * @brief Access: the im2col columns of output rows [row0, row0 + tile_rows) into the tile's input
 *        buffer (layout in the file comment), zero point subtracted, padding and the fill of the
 *        last block 0.
 */
STM32DVFS_NN_INLINE void stm32dvfs_conv2d_tile_input_s16(const stm32dvfs_conv2d_args* layer, int32_t row0)
{
  STM32DVFS_NN_LOCAL_ARGS(a, layer);
  const stm32dvfs_conv_dims* d = &a->dims;
  const stm32dvfs_tile_layout l = stm32dvfs_conv2d_tile_layout(d, a->tile_rows, a->tile_channels, 0);
  uint32_t* base = (uint32_t*)(void*)(a->buffer + l.input);
  const int32_t zero_point = a->input_zero_point;
  const uint32_t off2 = stm32dvfs_nn_pack(-zero_point, -zero_point);
  const int32_t in_plane = d->in_height * d->in_width;
  const int32_t depth = l.depth, full = depth / 4, rest = depth & 3;
  const int32_t pointwise = d->kernel_h == 1 && d->kernel_w == 1 && d->stride_h == 1 && d->stride_w == 1 &&
                            d->pad_top == 0 && d->pad_left == 0 && d->in_width == d->out_width;
  if (pointwise) {
    /* 1x1: pixel p of channel c is input[c * plane + p]; per block and pair of channels (c, c')
     * two loads of four pixels, widened by SXTAB16 and paired per pixel by PKH */
    const int8_t* src = a->input + row0 * d->in_width;
    uint32_t* dst = base;
    const int32_t blocks = l.pixels / 4;
    for (int32_t b = 0; b < blocks; ++b, src += 4) {
      for (int32_t k = 0; k < 2 * full; ++k, dst += 4) {
        const int32_t c = 4 * (k >> 1) + (k & 1); /* pair k: channels c and c + 2 */
        const uint32_t lo = stm32dvfs_nn_read_u32(src + c * in_plane);
        const uint32_t hi = stm32dvfs_nn_read_u32(src + (c + 2) * in_plane);
        const uint32_t lo02 = stm32dvfs_nn_sxtab16(off2, lo), lo13 = stm32dvfs_nn_sxtab16_ror8(off2, lo);
        const uint32_t hi02 = stm32dvfs_nn_sxtab16(off2, hi), hi13 = stm32dvfs_nn_sxtab16_ror8(off2, hi);
        dst[0] = stm32dvfs_nn_pkhbt(lo02, hi02);
        dst[1] = stm32dvfs_nn_pkhbt(lo13, hi13);
        dst[2] = stm32dvfs_nn_pkhtb(lo02, hi02);
        dst[3] = stm32dvfs_nn_pkhtb(lo13, hi13);
      }
      if (rest) { /* the last, partial quad of channels, pixel by pixel */
        int16_t* col = (int16_t*)(void*)dst;
        for (int32_t k = 2 * full; k < l.kpairs; ++k) {
          for (int32_t j = 0; j < 4; ++j) {
            col[8 * (k - 2 * full) + 2 * j] = 0;
            col[8 * (k - 2 * full) + 2 * j + 1] = 0;
          }
        }
        for (int32_t c = 4 * full; c < depth; ++c) {
          const int32_t slot = stm32dvfs_conv_tile_slot(c, depth) - 4 * full;
          for (int32_t j = 0; j < 4; ++j) {
            col[8 * (slot >> 1) + 2 * j + (slot & 1)] = (int16_t)(src[c * in_plane + j] - zero_point);
          }
        }
        dst += 4 * (l.kpairs - 2 * full);
      }
    }
    if (blocks * 4 < l.pixels) { /* the last block: its missing pixels 0 */
      int16_t* col = (int16_t*)(void*)dst;
      for (int32_t i = 0; i < 8 * l.kpairs; ++i) {
        col[i] = 0;
      }
      for (int32_t c = 0; c < depth; ++c) {
        const int32_t slot = stm32dvfs_conv_tile_slot(c, depth);
        for (int32_t j = 0; 4 * blocks + j < l.pixels; ++j) {
          col[8 * (slot >> 1) + 2 * j + (slot & 1)] = (int16_t)(src[c * in_plane + j] - zero_point);
        }
      }
    }
    return;
  }
  /* any other shape: per block of four pixels, their columns staged as int8 a chunk at a time
   * (stm32dvfs_nn_stage_*), then per quad one load and two SXTAB16 per pixel give its pairs 2q
   * and 2q+1 */
  uint8_t stage[4 * STM32DVFS_NN_STAGE_STRIDE] __attribute__((aligned(4)));
  const uint32_t zp4 = 0x01010101u * (uint8_t)zero_point;
  const int32_t kw = d->kernel_w;
  const int32_t rows = kw <= 16 && d->dilation_w == 1; /* staged a kernel row at a time */
  const int32_t unit = 4 / stm32dvfs_nn_gcd4(kw);
  const int32_t chunk_rows = rows ? unit * (STM32DVFS_NN_STAGE_BYTES / (unit * kw)) : 0;
  const int32_t chunk = rows ? chunk_rows * kw : STM32DVFS_NN_STAGE_BYTES;
  for (int32_t b = 0; b < l.blocks; ++b) {
    int32_t y0[4], x0[4], inside[4];
    for (int32_t j = 0; j < 4; ++j) {
      const int32_t p = 4 * b + j < l.pixels ? 4 * b + j : l.pixels - 1; /* missing pixels repeat one */
      const int32_t oy = row0 + p / d->out_width, ox = p % d->out_width;
      y0[j] = oy * d->stride_h - d->pad_top;
      x0[j] = ox * d->stride_w - d->pad_left;
      const int32_t yl = y0[j] + (d->kernel_h - 1) * d->dilation_h;
      inside[j] = rows && y0[j] >= 0 && yl < d->in_height && x0[j] >= 0 && x0[j] + kw <= d->in_width &&
                  (d->in_height - 1 - yl) * d->in_width >= x0[j] + ((kw + 3) & ~3) - d->in_width;
    }
    const int32_t fast = inside[0] && inside[3] && y0[3] == y0[0] && x0[3] == x0[0] + 3 * d->stride_w;
    uint32_t* dst = base + 4 * b * l.kpairs;
    int32_t c = 0, ky = 0;
    for (int32_t k0 = 0; k0 < depth; k0 += chunk) {
      const int32_t count = depth - k0 < chunk ? depth - k0 : chunk;
      if (rows) {
        const int32_t segments = count / kw;
        if (fast) {
          stm32dvfs_nn_stage_rows_4(a->input + y0[0] * d->in_width + x0[0], d, c, ky, segments, stage);
        } else {
          for (int32_t j = 0; j < 4; ++j) {
            if (inside[j] && kw <= 4) {
              stm32dvfs_nn_stage_rows_word(a->input + y0[j] * d->in_width + x0[j], d, c, ky, segments,
                                           stage + j * STM32DVFS_NN_STAGE_STRIDE);
            } else {
              stm32dvfs_nn_stage_rows_1(a->input, d, zero_point, y0[j], x0[j], c, ky, segments,
                                        stage + j * STM32DVFS_NN_STAGE_STRIDE);
            }
          }
        }
        ky += segments;
        while (ky >= d->kernel_h) {
          ky -= d->kernel_h;
          ++c;
        }
      } else {
        for (int32_t j = 0; j < 4; ++j) {
          const int32_t p = 4 * b + j < l.pixels ? 4 * b + j : l.pixels - 1;
          stm32dvfs_nn_stage_pixel(a->input, d, zero_point, row0 + p / d->out_width, p % d->out_width, k0, count,
                                   stage + j * STM32DVFS_NN_STAGE_STRIDE);
        }
      }
      if (count & 3) { /* the last quad's missing elements: the zero point, 0 once widened */
        for (int32_t j = 0; j < 4; ++j) {
          memcpy(stage + j * STM32DVFS_NN_STAGE_STRIDE + count, &zp4, 4);
        }
      }
      const uint8_t* s = stage;
      for (int32_t k = k0; k < k0 + count; k += 4, s += 4) {
        uint32_t x[4];
        for (int32_t j = 0; j < 4; ++j) {
          x[j] = stm32dvfs_nn_read_u32(s + j * STM32DVFS_NN_STAGE_STRIDE);
        }
        if (k + 2 == depth) { /* a last quad of two elements: the pair (4q, 4q+1) */
          for (int32_t j = 0; j < 4; ++j) {
            dst[j] = stm32dvfs_nn_pkhbt(stm32dvfs_nn_sxtab16(off2, x[j]), stm32dvfs_nn_sxtab16_ror8(off2, x[j]));
          }
          dst += 4;
          continue;
        }
        for (int32_t j = 0; j < 4; ++j) {
          dst[j] = stm32dvfs_nn_sxtab16(off2, x[j]);
        }
        if (k + 1 < depth) { /* pair 2q+1, absent when the last quad has one element */
          for (int32_t j = 0; j < 4; ++j) {
            dst[4 + j] = stm32dvfs_nn_sxtab16_ror8(off2, x[j]);
          }
        }
        dst += 8;
      }
    }
  }
}

/**
 * @brief Access: output channels [channel0, channel0 + tile_channels) — their int8 weights at
 *        ``weights`` (the layer's, or the copy DMA staged) widened into pairs, and their
 *        requantisation table.
 */
STM32DVFS_NN_INLINE void stm32dvfs_conv2d_tile_weights_s16(const stm32dvfs_conv2d_args* layer, int32_t channel0,
                                                           const int8_t* weights)
{
  STM32DVFS_NN_LOCAL_ARGS(a, layer);
  const stm32dvfs_tile_layout l = stm32dvfs_conv2d_tile_layout(&a->dims, a->tile_rows, a->tile_channels, 0);
  stm32dvfs_nn_fill_table((stm32dvfs_requant_pair*)(void*)(a->buffer + l.table), &a->requant, a->bias, channel0,
                          a->tile_channels);
  stm32dvfs_nn_widen_weight_pairs(weights, a->tile_channels, l.depth, (uint32_t*)(void*)(a->buffer + l.weights), 1);
}

/* requantise and store one output of a 4x2 block; the channel's rule comes as values (loaded once
 * per channel pair: an int8 store may alias anything, so rules read through a pointer would be
 * reloaded after every store) */
STM32DVFS_NN_INLINE void stm32dvfs_conv2d_store(const stm32dvfs_conv2d_args* a, int32_t acc,
                                                stm32dvfs_requant_channel q, int8_t* out, int32_t index)
{
  int32_t y = stm32dvfs_requant_apply(acc, q, a->requant.fast, a->requant.rounding, a->requant.act_min,
                                      a->requant.act_max);
  if (a->residual.input) {
    y = stm32dvfs_residual_apply(&a->residual, y, a->residual.input[index]);
  }
  *out = (int8_t)y;
}

STM32DVFS_NN_INLINE void stm32dvfs_conv2d_store_4x2(const stm32dvfs_conv2d_args* a, const int32_t acc[8],
                                                    stm32dvfs_requant_channel q0, stm32dvfs_requant_channel q1,
                                                    int8_t* out, int32_t plane, int32_t count, int32_t channels,
                                                    int32_t index)
{
  /* written out, not a loop: every accumulator index is a constant */
  stm32dvfs_conv2d_store(a, acc[0], q0, out, index);
  if (count > 1) stm32dvfs_conv2d_store(a, acc[2], q0, out + 1, index + 1);
  if (count > 2) stm32dvfs_conv2d_store(a, acc[4], q0, out + 2, index + 2);
  if (count > 3) stm32dvfs_conv2d_store(a, acc[6], q0, out + 3, index + 3);
  if (channels == 2) {
    stm32dvfs_conv2d_store(a, acc[1], q1, out + plane, index + plane);
    if (count > 1) stm32dvfs_conv2d_store(a, acc[3], q1, out + plane + 1, index + plane + 1);
    if (count > 2) stm32dvfs_conv2d_store(a, acc[5], q1, out + plane + 2, index + plane + 2);
    if (count > 3) stm32dvfs_conv2d_store(a, acc[7], q1, out + plane + 3, index + plane + 3);
  }
}

/**
 * The fast rule (stm32dvfs_requant_apply with ``fast`` and the int8 clamp) for a whole 4x2 block:
 * out[j] = SSAT8(SMMLA(acc[2j], m0, c0) >> s0), out[plane + j] likewise with acc[2j+1] and channel
 * 1's rule; q points at the two channels' rules, ``plane`` (<= 4092) is a constant. With the DSP
 * extension one assembly block: eight accumulators, the output and rule pointers and a rule's
 * three words take thirteen registers, which the compiler would otherwise shuffle through the stack.
 */
STM32DVFS_NN_INLINE void stm32dvfs_nn_store_4x2_fast(const int32_t acc[8], const stm32dvfs_requant_channel* q,
                                                     int8_t* out, int32_t plane)
{
#if STM32DVFS_NN_ASM
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3], a20 = acc[4], a21 = acc[5], a30 = acc[6],
          a31 = acc[7];
  int32_t m, c, s;
#define STM32DVFS_NN_REQUANT_ONE(acc, m, c, s, at)                 \
  "smmla %[" #acc "], %[" #acc "], %[" #m "], %[" #c "]\n\t" \
  "asr %[" #acc "], %[" #acc "], %[" #s "]\n\t"              \
  "ssat %[" #acc "], #8, %[" #acc "]\n\t"                    \
  "strb %[" #acc "], [%[o], #" at "]\n\t"
  /* channel 1's rule goes into the registers of channel 0's stored accumulators */
  __asm__ volatile("ldrd %[m], %[c], [%[q]]\n\t"
                   "ldr %[s], [%[q], #8]\n\t"
                   STM32DVFS_NN_REQUANT_ONE(a00, m, c, s, "0") STM32DVFS_NN_REQUANT_ONE(a10, m, c, s, "1")
                   STM32DVFS_NN_REQUANT_ONE(a20, m, c, s, "2") STM32DVFS_NN_REQUANT_ONE(a30, m, c, s, "3")
                   "ldrd %[a00], %[a10], [%[q], #12]\n\t"
                   "ldr %[a20], [%[q], #20]\n\t"
                   STM32DVFS_NN_REQUANT_ONE(a01, a00, a10, a20, "%c[p]")
                   STM32DVFS_NN_REQUANT_ONE(a11, a00, a10, a20, "%c[p] + 1")
                   STM32DVFS_NN_REQUANT_ONE(a21, a00, a10, a20, "%c[p] + 2")
                   STM32DVFS_NN_REQUANT_ONE(a31, a00, a10, a20, "%c[p] + 3")
                   : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [a20] "+r"(a20),
                     [a21] "+r"(a21), [a30] "+r"(a30), [a31] "+r"(a31), [m] "=&r"(m), [c] "=&r"(c), [s] "=&r"(s)
                   : [q] "r"(q), [o] "r"(out), [p] "i"(plane)
                   : "memory");
#undef STM32DVFS_NN_REQUANT_ONE
#else
  for (int32_t j = 0; j < 4; ++j) {
    out[j] = (int8_t)stm32dvfs_nn_sat8(stm32dvfs_nn_smmla(acc[2 * j], q[0].m, q[0].c) >> q[0].s);
    out[plane + j] = (int8_t)stm32dvfs_nn_sat8(stm32dvfs_nn_smmla(acc[2 * j + 1], q[1].m, q[1].c) >> q[1].s);
  }
#endif
}

#if STM32DVFS_NN_ASM
/* requantise (fast rule: m, c, s) accumulator acc and store it at [o, #at] */
#define STM32DVFS_NN_REQUANT_AT(acc, m, c, s, o, at)             \
  "smmla %[" #acc "], %[" #acc "], %[" #m "], %[" #c "]\n\t" \
  "asr %[" #acc "], %[" #acc "], %[" #s "]\n\t"              \
  "ssat %[" #acc "], #8, %[" #acc "]\n\t"                    \
  "strb %[" #acc "], [%[" #o "], #" at "]\n\t"
#endif

/**
 * Every full 4x2 block of a channel pair in one assembly loop, for a constant reduction of at most
 * 48 pairs and the fast rule with the int8 clamp: per block stm32dvfs_nn_mac_4x2_bias's unrolled
 * pairs, then stm32dvfs_nn_store_4x2_fast's requantisation (channel 1 at the constant offset
 * ``plane`` <= 4092). The pair's bias and rules, the output pointer and its end live in stack
 * slots (memory operands), since the multiply-accumulates take all fourteen registers.
 * Returns px past the blocks.
 */
STM32DVFS_NN_INLINE const uint32_t* stm32dvfs_nn_blocks_4x2_fast(const uint32_t* px, const uint32_t* pw,
                                                                 const stm32dvfs_requant_pair* t, int8_t* out,
                                                                 int32_t blocks, int32_t kpairs, int32_t plane)
{
#if STM32DVFS_NN_ASM
  stm32dvfs_requant_pair r = *t; /* on the stack: addressed from sp */
  int8_t* o = out;
  int8_t* const end = out + 4 * blocks;
  int32_t a00, a01, a10, a11, a20, a21, a30, a31;
  uint32_t w0, w1, x0, x1;
  __asm__ volatile("1:\n\t"
                   "ldrd %[a00], %[a01], %[bias]\n\t"
                   "ldrd %[w0], %[w1], [%[pw]]\n\t"
                   "ldrd %[x0], %[x1], [%[px], #8]\n\t"
                   "smlad %[a20], %[x0], %[w0], %[a00]\n\t"
                   "smlad %[a21], %[x0], %[w1], %[a01]\n\t"
                   "smlad %[a30], %[x1], %[w0], %[a00]\n\t"
                   "smlad %[a31], %[x1], %[w1], %[a01]\n\t"
                   "ldrd %[x0], %[x1], [%[px]], #16\n\t"
                   "smlad %[a10], %[x1], %[w0], %[a00]\n\t"
                   "smlad %[a11], %[x1], %[w1], %[a01]\n\t"
                   "smlad %[a00], %[x0], %[w0], %[a00]\n\t"
                   "smlad %[a01], %[x0], %[w1], %[a01]\n\t"
                   ".set .Lstm32dvfs_k, 8\n\t"
                   ".rept %c[n] - 1\n\t" STM32DVFS_NN_KPAIRK_4X2 ".endr\n\t"
                   "ldrd %[w0], %[w1], %[q1]\n\t"
                   "ldr %[x1], %[s1]\n\t"
                   "ldr %[x0], %[o]\n\t"
                   STM32DVFS_NN_REQUANT_AT(a01, w0, w1, x1, x0, "%c[p]")
                   STM32DVFS_NN_REQUANT_AT(a11, w0, w1, x1, x0, "%c[p] + 1")
                   STM32DVFS_NN_REQUANT_AT(a21, w0, w1, x1, x0, "%c[p] + 2")
                   STM32DVFS_NN_REQUANT_AT(a31, w0, w1, x1, x0, "%c[p] + 3")
                   "ldrd %[w0], %[w1], %[q0]\n\t"
                   "ldr %[x1], %[s0]\n\t"
                   STM32DVFS_NN_REQUANT_AT(a10, w0, w1, x1, x0, "1")
                   STM32DVFS_NN_REQUANT_AT(a20, w0, w1, x1, x0, "2")
                   STM32DVFS_NN_REQUANT_AT(a30, w0, w1, x1, x0, "3")
                   /* channel 0's first output last: its store advances the output pointer */
                   "smmla %[a00], %[a00], %[w0], %[w1]\n\t"
                   "asr %[a00], %[a00], %[x1]\n\t"
                   "ssat %[a00], #8, %[a00]\n\t"
                   "strb %[a00], [%[x0]], #4\n\t"
                   "str %[x0], %[o]\n\t"
                   "ldr %[x1], %[end]\n\t"
                   "cmp %[x0], %[x1]\n\t"
                   "bne 1b\n\t"
                   : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11), [a20] "=&r"(a20),
                     [a21] "=&r"(a21), [a30] "=&r"(a30), [a31] "=&r"(a31), [px] "+r"(px), [pw] "+r"(pw),
                     [w0] "=&r"(w0), [w1] "=&r"(w1), [x0] "=&r"(x0), [x1] "=&r"(x1), [o] "+m"(o)
                   : [bias] "m"(r.bias), [q0] "m"(r.q[0]), [s0] "m"(r.q[0].s), [q1] "m"(r.q[1]),
                     [s1] "m"(r.q[1].s), [end] "m"(end), [n] "i"(kpairs), [p] "i"(plane)
                   : "memory", "cc");
  return px;
#else
  for (int32_t b = 0; b < blocks; ++b, out += 4) {
    int32_t acc[8];
    px = stm32dvfs_nn_mac_4x2_bias(px, pw, t->bias, t->bias[0], t->bias[1], kpairs, acc);
    stm32dvfs_nn_store_4x2_fast(acc, t->q, out, plane);
  }
  return px;
#endif
}

/**
 * @brief Execute: the outputs of rows [row0, row0 + tile_rows) x channels [channel0, channel0 +
 *        tile_channels) from the tile's buffers: 4x2 blocks of SMLAD over the reduction, bias as
 *        the initial sum, requantised (and the residual added) as they are stored.
 */
STM32DVFS_NN_INLINE void stm32dvfs_conv2d_tile_execute_s16(const stm32dvfs_conv2d_args* layer, int32_t row0,
                                                           int32_t channel0)
{
  STM32DVFS_NN_LOCAL_ARGS(a, layer);
  const stm32dvfs_conv_dims* d = &a->dims;
  const stm32dvfs_tile_layout l = stm32dvfs_conv2d_tile_layout(d, a->tile_rows, a->tile_channels, 0);
  const int32_t plane = d->out_height * d->out_width;
  const int32_t full = l.pixels / 4, tail = l.pixels - 4 * full;
  const stm32dvfs_requant_pair* table = (const stm32dvfs_requant_pair*)(const void*)(a->buffer + l.table);
  for (int32_t pair = 0; pair < l.pairs; ++pair) {
    const stm32dvfs_requant_pair* t = table + pair;
    const int32_t b0 = t->bias[0], b1 = t->bias[1];
    const stm32dvfs_requant_channel q0 = t->q[0], q1 = t->q[1];
    const uint32_t* w = (const uint32_t*)(const void*)(a->buffer + l.weights) + pair * 2 * l.kpairs;
    const uint32_t* x = (const uint32_t*)(const void*)(a->buffer + l.input);
    const int32_t channels = a->tile_channels - 2 * pair < 2 ? 1 : 2;
    const int32_t index0 = (channel0 + 2 * pair) * plane + row0 * d->out_width;
    int8_t* out = a->output + index0;
    /* the usual case: the fast rule, no clamp inside int8, no residual */
#if defined(__OPTIMIZE__)
    const int32_t rule = a->requant.fast && a->requant.act_min == -128 && a->requant.act_max == 127 &&
                         !a->residual.input && channels == 2 && __builtin_constant_p(plane) && plane <= 4092;
    /* only where the compiler knows it (a residual's pointer is not a constant): otherwise the
     * assembly would be compiled into a branch never taken, and may not find its registers */
    const int32_t simple = __builtin_constant_p(rule) && rule;
#else
    const int32_t simple = 0; /* the assembly needs the plane as a constant */
#endif
#if defined(__OPTIMIZE__)
    if (simple && __builtin_constant_p(l.kpairs) && l.kpairs >= 1 && l.kpairs <= 48 && full > 0) {
      x = stm32dvfs_nn_blocks_4x2_fast(x, w, t, out, full, l.kpairs, plane);
      out += 4 * full;
    } else
#endif
    for (int32_t b = 0; b < full; ++b, out += 4) {
      int32_t acc[8];
      x = stm32dvfs_nn_mac_4x2_bias(x, w, t->bias, b0, b1, l.kpairs, acc);
      if (simple) {
        stm32dvfs_nn_store_4x2_fast(acc, t->q, out, plane);
      } else {
        stm32dvfs_conv2d_store_4x2(a, acc, q0, q1, out, plane, 4, channels, index0 + 4 * b);
      }
    }
    if (tail) {
      int32_t acc[8];
      x = stm32dvfs_nn_mac_4x2_bias(x, w, t->bias, b0, b1, l.kpairs, acc);
      stm32dvfs_conv2d_store_4x2(a, acc, q0, q1, out, plane, tail, channels, index0 + 4 * full);
    }
  }
}

/* ------------------------------------------------------------------ depthwise */

/**
 * @brief Access: the padded input rows that output rows [row0, row0 + tile_rows) of channels
 *        [channel0, channel0 + tile_channels) read, as int16 with the zero point subtracted, padding
 *        and slack 0. Four input bytes become two aligned pairs (x0, x1), (x2, x3): one load, two
 *        SXTAB16, two PKH and one STRD.
 */
STM32DVFS_NN_INLINE void stm32dvfs_depthwise_tile_input_s16(const stm32dvfs_conv2d_args* layer, int32_t row0,
                                                            int32_t channel0)
{
  STM32DVFS_NN_DEPTHWISE_TILE(a, d, l, layer);
  const int32_t in_cols = stm32dvfs_window(d->out_width, d->stride_w, d->kernel_w, d->dilation_w);
  const int32_t offset = -a->input_zero_point;
  const uint32_t off2 = stm32dvfs_nn_pack(offset, offset);
  const int32_t row_words = l.row / 4;
  /* a row copies input columns [0, count) to buffer columns [col0, col0 + count) */
  const int32_t col0 = d->pad_left < in_cols ? d->pad_left : in_cols;
  const int32_t count = in_cols - col0 < d->in_width ? in_cols - col0 : d->in_width;
  /* buffer columns [col0, lead) one by one up to an even column, then groups of four */
  const int32_t lead = (col0 + 1) & ~1;
  const int32_t groups = count > lead - col0 ? (count - (lead - col0)) / 4 : 0;
  const int32_t done = lead - col0 + 4 * groups; /* input columns copied by the lead and the groups */
  for (int32_t g = 0; g < a->tile_channels; ++g) {
    const int8_t* plane = a->input + (channel0 + g) * d->in_height * d->in_width;
    uint32_t* dst = (uint32_t*)(void*)(a->buffer + l.input) + g * l.in_rows * row_words;
    for (int32_t r = 0; r < l.in_rows; ++r, dst += row_words) {
      const int32_t iy = row0 * d->stride_h - d->pad_top + r;
      for (int32_t i = 0; i < row_words; ++i) {
        dst[i] = 0;
      }
      if (iy < 0 || iy >= d->in_height || count <= 0) {
        continue;
      }
      const int8_t* src = plane + iy * d->in_width;
      int16_t* row = (int16_t*)(void*)dst;
      int32_t i = 0;
      for (; i < lead - col0 && i < count; ++i) {
        row[col0 + i] = (int16_t)(src[i] + offset);
      }
      uint32_t* out = dst + lead / 2;
      for (int32_t q = 0; q < groups; ++q, i += 4, out += 2) {
        const uint32_t x = stm32dvfs_nn_read_u32(src + i);
        const uint32_t x02 = stm32dvfs_nn_sxtab16(off2, x), x13 = stm32dvfs_nn_sxtab16_ror8(off2, x);
        out[0] = stm32dvfs_nn_pkhbt(x02, x13);
        out[1] = stm32dvfs_nn_pkhtb(x02, x13);
      }
      for (i = done; i < count; ++i) {
        row[col0 + i] = (int16_t)(src[i] + offset);
      }
    }
  }
}

/**
 * @brief Access: the weights of channels [channel0, channel0 + tile_channels) (at ``weights``: the
 *        layer's or the DMA-staged copy) as int16 pairs, and their requantisation entries.
 */
STM32DVFS_NN_INLINE void stm32dvfs_depthwise_tile_weights_s16(const stm32dvfs_conv2d_args* layer, int32_t channel0,
                                                              const int8_t* weights)
{
  STM32DVFS_NN_DEPTHWISE_TILE(a, d, l, layer);
  const int32_t taps = d->kernel_h * d->kernel_w;
  int32_t* table = (int32_t*)(void*)(a->buffer + l.table);
  uint32_t* wt = (uint32_t*)(void*)(a->buffer + l.weights);
  for (int32_t g = 0; g < a->tile_channels; ++g, table += 4) {
    const stm32dvfs_requant_channel q = stm32dvfs_requant_prepare(&a->requant, channel0 + g);
    table[0] = a->bias[channel0 + g];
    table[1] = q.m;
    table[2] = q.c;
    table[3] = q.s;
    const int8_t* w = weights + g * taps;
    if (stm32dvfs_depthwise_tile_is_3x3(d)) {
      for (int32_t ky = 0; ky < 3; ++ky, wt += 2) {
        wt[0] = stm32dvfs_nn_pack(w[3 * ky], w[3 * ky + 1]);
        wt[1] = stm32dvfs_nn_pack(w[3 * ky + 1], w[3 * ky + 2]);
      }
    } else {
      for (int32_t ky = 0; ky < d->kernel_h; ++ky) {
        for (int32_t kx = 0; kx < d->kernel_w; kx += 2, ++wt) {
          *wt = stm32dvfs_nn_pack(w[ky * d->kernel_w + kx], kx + 1 < d->kernel_w ? w[ky * d->kernel_w + kx + 1] : 0);
        }
      }
    }
  }
}

/* one kernel row of the 3x3 micro-kernel for the output pair (2i, 2i+1) at stride 1, from the pairs
 * X = (x0, x1), Y = (x2, x3) of the row and the weights A = (w0, w1), B = (w1, w2):
 *   out0 = x0 w0 + x1 w1 + x2 w2 = SMLAD(X, A) + SMLABT(Y, B)
 *   out1 = x1 w0 + x2 w1 + x3 w2 = SMLAD(Y, B) + SMLATB(X, A)
 * and at stride 2 for the outputs (j, j+1) from X, Y and Z = (x4, x5):
 *   out0 = SMLAD(X, A) + SMLABT(Y, B),  out1 = SMLAD(Y, A) + SMLABT(Z, B) */
STM32DVFS_NN_INLINE void stm32dvfs_depthwise_row_3x3(const int16_t* row, int32_t stride, uint32_t wa, uint32_t wb,
                                                     int32_t* a0, int32_t* a1)
{
  const uint32_t x = stm32dvfs_nn_read_u32(row), y = stm32dvfs_nn_read_u32(row + 2);
  *a0 = stm32dvfs_nn_smlabt(y, wb, stm32dvfs_nn_smlad(x, wa, *a0));
  if (stride == 1) {
    *a1 = stm32dvfs_nn_smlatb(x, wa, stm32dvfs_nn_smlad(y, wb, *a1));
  } else {
    const uint32_t z = stm32dvfs_nn_read_u32(row + 4);
    *a1 = stm32dvfs_nn_smlabt(z, wb, stm32dvfs_nn_smlad(y, wa, *a1));
  }
}

/**
 * @brief Execute: outputs of rows [row0, row0 + tile_rows) x channels [channel0, ...) from the
 *        tile's buffers. 3x3 kernels: two outputs per step, four SMLAD-class instructions and one
 *        or two loads per kernel row (stm32dvfs_depthwise_row_3x3); others: SMLAD over pairs of
 *        taps.
 */
STM32DVFS_NN_INLINE void stm32dvfs_depthwise_tile_execute_s16(const stm32dvfs_conv2d_args* layer, int32_t row0,
                                                              int32_t channel0)
{
  STM32DVFS_NN_DEPTHWISE_TILE(a, d, l, layer);
  const int32_t plane = d->out_height * d->out_width;
  const int32_t row_elems = l.row / 2;
  const int32_t* table = (const int32_t*)(const void*)(a->buffer + l.table);
  for (int32_t g = 0; g < a->tile_channels; ++g, table += 4) {
    const int32_t bias = table[0];
    const stm32dvfs_requant_channel q = {table[1], table[2], table[3]};
    const int16_t* rows = (const int16_t*)(const void*)(a->buffer + l.input) + g * l.in_rows * row_elems;
    const int32_t index0 = (channel0 + g) * plane + row0 * d->out_width;
    int8_t* out = a->output + index0;
    if (stm32dvfs_depthwise_tile_is_3x3(d)) {
      const uint32_t* wt = (const uint32_t*)(const void*)(a->buffer + l.weights) + 6 * g;
      const uint32_t a0w = wt[0], b0w = wt[1], a1w = wt[2], b1w = wt[3], a2w = wt[4], b2w = wt[5];
      const int32_t stride = d->stride_h;
      for (int32_t y = 0; y < a->tile_rows; ++y, out += d->out_width) {
        const int16_t* r0 = rows + y * stride * row_elems;
        for (int32_t ox = 0; ox < d->out_width; ox += 2) {
          int32_t s0 = bias, s1 = bias;
          const int16_t* r = r0 + ox * stride;
          stm32dvfs_depthwise_row_3x3(r, stride, a0w, b0w, &s0, &s1);
          stm32dvfs_depthwise_row_3x3(r + row_elems, stride, a1w, b1w, &s0, &s1);
          stm32dvfs_depthwise_row_3x3(r + 2 * row_elems, stride, a2w, b2w, &s0, &s1);
          stm32dvfs_conv2d_store(a, s0, q, out + ox, index0 + y * d->out_width + ox);
          if (ox + 1 < d->out_width) {
            stm32dvfs_conv2d_store(a, s1, q, out + ox + 1, index0 + y * d->out_width + ox + 1);
          }
        }
      }
    } else if (d->dilation_w == 1) {
      /* two outputs (ox, ox + 1) per step, sharing the weight loads: per kernel row and tap pair k
       * out0 += SMLAD(x[ox*s + 2k ..], W_k), out1 += SMLAD(x[(ox+1)*s + 2k ..], W_k), the pairs read
       * as (unaligned) words of the int16 row */
      const int32_t kw_pairs = (d->kernel_w + 1) / 2;
      const uint32_t* wt = (const uint32_t*)(const void*)(a->buffer + l.weights) + g * d->kernel_h * kw_pairs;
      const int32_t sx = d->stride_w;
      for (int32_t y = 0; y < a->tile_rows; ++y, out += d->out_width) {
        const int16_t* r0 = rows + y * d->stride_h * row_elems;
        int32_t ox = 0;
        for (; ox + 1 < d->out_width; ox += 2) {
          int32_t s0 = bias, s1 = bias;
          const int16_t* r = r0 + ox * sx;
          const uint32_t* wk = wt;
#pragma GCC unroll 8
          for (int32_t ky = 0; ky < d->kernel_h; ++ky, r += d->dilation_h * row_elems, wk += kw_pairs) {
#pragma GCC unroll 8
            for (int32_t k = 0; k < kw_pairs; ++k) {
              const uint32_t wv = wk[k];
              s0 = stm32dvfs_nn_smlad(stm32dvfs_nn_read_u32(r + 2 * k), wv, s0);
              s1 = stm32dvfs_nn_smlad(stm32dvfs_nn_read_u32(r + sx + 2 * k), wv, s1);
            }
          }
          stm32dvfs_conv2d_store(a, s0, q, out + ox, index0 + y * d->out_width + ox);
          stm32dvfs_conv2d_store(a, s1, q, out + ox + 1, index0 + y * d->out_width + ox + 1);
        }
        if (ox < d->out_width) {
          int32_t s0 = bias;
          const int16_t* r = r0 + ox * sx;
          const uint32_t* wk = wt;
          for (int32_t ky = 0; ky < d->kernel_h; ++ky, r += d->dilation_h * row_elems, wk += kw_pairs) {
            for (int32_t k = 0; k < kw_pairs; ++k) {
              s0 = stm32dvfs_nn_smlad(stm32dvfs_nn_read_u32(r + 2 * k), wk[k], s0);
            }
          }
          stm32dvfs_conv2d_store(a, s0, q, out + ox, index0 + y * d->out_width + ox);
        }
      }
    } else {
      const int32_t kw_pairs = (d->kernel_w + 1) / 2;
      const uint32_t* wt = (const uint32_t*)(const void*)(a->buffer + l.weights) + g * d->kernel_h * kw_pairs;
      for (int32_t y = 0; y < a->tile_rows; ++y, out += d->out_width) {
        for (int32_t ox = 0; ox < d->out_width; ++ox) {
          int32_t acc = bias;
          const int16_t* r = rows + y * d->stride_h * row_elems + ox * d->stride_w;
          const uint32_t* wk = wt;
          for (int32_t ky = 0; ky < d->kernel_h; ++ky, r += d->dilation_h * row_elems, wk += kw_pairs) {
            for (int32_t kx = 0; kx < d->kernel_w; ++kx) {
              const uint32_t wp = wk[kx / 2];
              acc += r[kx * d->dilation_w] * ((kx & 1) ? stm32dvfs_nn_hi(wp) : stm32dvfs_nn_lo(wp));
            }
          }
          stm32dvfs_conv2d_store(a, acc, q, out + ox, index0 + y * d->out_width + ox);
        }
      }
    }
  }
}

/* ------------------------------------------------------------------ dense */

/** @brief Access: every input row widened once into pairs (x[2k], x[2k+1]) - zero point. */
STM32DVFS_NN_INLINE void stm32dvfs_dense_tile_input_s16(const stm32dvfs_dense_args* layer)
{
  /* a local copy: its fields stay compile-time constants whatever the callees do with pointers */
  const stm32dvfs_dense_args local = *layer;
  const stm32dvfs_dense_args* a = &local;
  const stm32dvfs_tile_layout l = stm32dvfs_dense_tile_layout(a->batches, a->in_features, a->tile_channels, 0);
  const int32_t offset = -a->input_zero_point;
  uint32_t* dst = (uint32_t*)(void*)(a->buffer + l.input);
  for (int32_t n = 0; n < a->batches; ++n) {
    const int8_t* x = a->input + n * a->in_features;
    for (int32_t k = 0; k < l.kpairs; ++k) {
      const int32_t hi = 2 * k + 1 < a->in_features ? x[2 * k + 1] + offset : 0;
      *dst++ = stm32dvfs_nn_pack(x[2 * k] + offset, hi);
    }
  }
}

/** @brief Access: the weights of features [channel0, channel0 + tile_channels) widened into pairs
 *         (layout as for a convolution) and their requantisation table. */
STM32DVFS_NN_INLINE void stm32dvfs_dense_tile_weights_s16(const stm32dvfs_dense_args* layer, int32_t channel0,
                                                          const int8_t* weights)
{
  /* a local copy: its fields stay compile-time constants whatever the callees do with pointers */
  const stm32dvfs_dense_args local = *layer;
  const stm32dvfs_dense_args* a = &local;
  const stm32dvfs_tile_layout l = stm32dvfs_dense_tile_layout(a->batches, a->in_features, a->tile_channels, 0);
  stm32dvfs_nn_fill_table((stm32dvfs_requant_pair*)(void*)(a->buffer + l.table), &a->requant, a->bias, channel0,
                          a->tile_channels);
  stm32dvfs_nn_widen_weight_pairs(weights, a->tile_channels, a->in_features, (uint32_t*)(void*)(a->buffer + l.weights), 0);
}

/** @brief Execute: features [channel0, ...) of every row, two features per SMLAD step. */
STM32DVFS_NN_INLINE void stm32dvfs_dense_tile_execute_s16(const stm32dvfs_dense_args* layer, int32_t channel0)
{
  /* a local copy: its fields stay compile-time constants whatever the callees do with pointers */
  const stm32dvfs_dense_args local = *layer;
  const stm32dvfs_dense_args* a = &local;
  const stm32dvfs_tile_layout l = stm32dvfs_dense_tile_layout(a->batches, a->in_features, a->tile_channels, 0);
  const stm32dvfs_requant_pair* table = (const stm32dvfs_requant_pair*)(const void*)(a->buffer + l.table);
  for (int32_t n = 0; n < a->batches; ++n) {
    const uint32_t* x0 = (const uint32_t*)(const void*)(a->buffer + l.input) + n * l.kpairs;
    int8_t* out = a->output + n * a->out_features + channel0;
    for (int32_t pair = 0; pair < l.pairs; ++pair) {
      const stm32dvfs_requant_pair* t = table + pair;
      const uint32_t* w = (const uint32_t*)(const void*)(a->buffer + l.weights) + pair * 2 * l.kpairs;
      int32_t s0 = t->bias[0], s1 = t->bias[1];
      for (int32_t k = 0; k < l.kpairs; ++k) {
        const uint32_t x = x0[k];
        s0 = stm32dvfs_nn_smlad(x, w[2 * k], s0);
        s1 = stm32dvfs_nn_smlad(x, w[2 * k + 1], s1);
      }
      out[2 * pair] = (int8_t)stm32dvfs_nn_requant_from(s0, t, 0, &a->requant);
      if (2 * pair + 1 < a->tile_channels) {
        out[2 * pair + 1] = (int8_t)stm32dvfs_nn_requant_from(s1, t, 1, &a->requant);
      }
    }
  }
}

#endif /* STM32DVFS_NN_TILES_H */
