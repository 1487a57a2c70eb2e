/**
 * @file stm32dvfs_nn_dense.c
 * @brief stm32dvfs_dense_s8: int8 fully connected layer.
 *
 * Each input row is widened once into the scratch as int16 quads (k, k+2, k+1, k+3) with the zero
 * point subtracted (the order SXTB16 unpacks four int8 weights in), then every output is an SMLAD
 * dot product reading the weights as int8, four per load.
 */
#include "stm32dvfs_nn.h"
#include "stm32dvfs_status.h"

int stm32dvfs_dense_s8(const stm32dvfs_dense_args* args)
{
  const int32_t depth = args->in_features;
  const int32_t quads = depth / 4;
  const int32_t rest = depth - 4 * quads;
  const int32_t offset = -args->input_zero_point;
  const int32_t fast = args->requant.fast, rounding = args->requant.rounding, act_min = args->requant.act_min, act_max = args->requant.act_max;
  int16_t* col = (int16_t*)(void*)args->buffer;
  static const int8_t order[4] = {0, 2, 1, 3};
  for (int32_t n = 0; n < args->batches; ++n) {
    const int8_t* x = args->input + n * depth;
    for (int32_t k = 0; k < 4 * (quads + (rest ? 1 : 0)); ++k) {
      col[(k & ~3) + order[k & 3]] = (int16_t)(k < depth ? x[k] + offset : 0);
    }
    for (int32_t j = 0; j < args->out_features; ++j) {
      const int8_t* w = args->weights + j * depth;
      const uint32_t* c = (const uint32_t*)(const void*)col;
      int32_t acc = args->bias[j];
      for (int32_t q = 0; q < quads; ++q, w += 4, c += 2) {
        const uint32_t w4 = stm32dvfs_nn_read_u32(w);
        acc = stm32dvfs_nn_smlad(c[0], stm32dvfs_nn_sxtb16(w4), acc);
        acc = stm32dvfs_nn_smlad(c[1], stm32dvfs_nn_sxtb16_ror8(w4), acc);
      }
      for (int32_t k = 0; k < rest; ++k) {
        acc += (x[4 * quads + k] + offset) * w[k];
      }
      const stm32dvfs_requant_channel rq = stm32dvfs_requant_prepare(&args->requant, j);
      args->output[n * args->out_features + j] = (int8_t)stm32dvfs_requant_apply(acc, rq, fast, rounding, act_min,
                                                                                                act_max);
    }
  }
  return STM32DVFS_OK;
}
