/*
 * Host harness of a generated model: reads each input from a raw file, runs one inference and
 * writes each output to a raw file. The test-suite builds it under ASan/UBSan; every buffer is
 * heap-allocated with exactly the size the model states, so any overrun aborts the run.
 * (Only this host tool allocates; the model itself never does.)
 *
 * usage: harness IN0.bin [IN1.bin ...] OUT0.bin [OUT1.bin ...]
 */
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

static int read_file(const char* path, void* dst, size_t nbytes)
{
  FILE* f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    return 1;
  }
  size_t got = fread(dst, 1, nbytes, f);
  int extra = fgetc(f);
  fclose(f);
  if (got != nbytes || extra != EOF) {
    fprintf(stderr, "%s: expected exactly %zu bytes\n", path, nbytes);
    return 1;
  }
  return 0;
}

static int write_file(const char* path, const void* src, size_t nbytes)
{
  FILE* f = fopen(path, "wb");
  if (f == NULL) {
    perror(path);
    return 1;
  }
  size_t put = fwrite(src, 1, nbytes, f);
  return (fclose(f) != 0 || put != nbytes) ? 1 : 0;
}

int main(int argc, char** argv)
{
  enum { NI = STM32DVFS_MODEL_NUM_INPUTS, NO = STM32DVFS_MODEL_NUM_OUTPUTS };
  if (argc != 1 + NI + NO) {
    fprintf(stderr, "usage: %s %d input files then %d output files\n", argv[0], NI, NO);
    return 2;
  }
  const void* inputs[NI + 1];
  void* outputs[NO + 1];
  void* owned[NI + NO + 1];
  int status = 0;
  for (int i = 0; i < NI; ++i) {
    owned[i] = malloc(stm32dvfs_model_input_bytes[i] ? stm32dvfs_model_input_bytes[i] : 1);
    inputs[i] = owned[i];
    if (owned[i] == NULL || read_file(argv[1 + i], owned[i], stm32dvfs_model_input_bytes[i])) {
      return 1;
    }
  }
  for (int i = 0; i < NO; ++i) {
    owned[NI + i] = malloc(stm32dvfs_model_output_bytes[i] ? stm32dvfs_model_output_bytes[i] : 1);
    outputs[i] = owned[NI + i];
    if (owned[NI + i] == NULL) {
      return 1;
    }
  }
  status = stm32dvfs_model_run(inputs, outputs);
  if (status != STM32DVFS_OK) {
    fprintf(stderr, "stm32dvfs_model_run: status %d\n", status);
    return 1;
  }
  for (int i = 0; i < NO; ++i) {
    if (write_file(argv[1 + NI + i], outputs[i], stm32dvfs_model_output_bytes[i])) {
      return 1;
    }
  }
  for (int i = 0; i < NI + NO; ++i) {
    free(owned[i]);
  }
  return 0;
}
