/*
 * stm32dvfs_dma_copy(): the DMA access of a decoupled layer (see stm32dvfs_runtime.h).
 *
 * Board builds (STM32DVFS_PLATFORM_BOARD) move the bytes with the family's DMA controller
 * (stm32dvfs_dma_family.h): word items where both ends are word-aligned (a quarter of the bus
 * transactions of byte items), at most STM32DVFS_DMA_MAX_ITEMS a transfer, each waited for with a
 * bounded number of polls; the last bytes short of a word by the CPU. A transfer that fails or
 * times out leaves the rest of the copy to the CPU, so the tile is right, and is reported:
 * stm32dvfs_dma_take_status() returns STM32DVFS_ERROR_DMA, and stm32dvfs_model_run() with it.
 * Host, emulator builds without a board, and the QEMU platform copy with memcpy.
 */
#include <stdint.h>
#include <string.h>

#include "stm32dvfs_runtime.h"
#include "stm32dvfs_status.h"

static int dma_status = STM32DVFS_OK;

int stm32dvfs_dma_take_status(void)
{
  const int status = dma_status;
  dma_status = STM32DVFS_OK;
  return status;
}

#if defined(STM32DVFS_PLATFORM_BOARD)

#include "stm32dvfs_clock_regs.h"
#include "stm32dvfs_dma_family.h"

/** Polls of the transfer's flags before it counts as failed (a 64 KiB transfer at one byte per
 *  bus cycle is far shorter). */
#define STM32DVFS_DMA_TIMEOUT 1000000u

/* One transfer. A channel is programmed only while it reads disabled (a stream ends its current
 * burst first) and enabled once programmed; afterwards it is disabled (the L4+ keeps EN set after
 * a transfer) and its flags cleared. */
static int transfer(uint8_t* dst, const uint8_t* src, uint32_t items, uint32_t item_bytes)
{
  const stm32dvfs_dma_channel_regs* r = &stm32dvfs_dma_family;
  *r->control &= ~1u;
  int status = stm32dvfs_wait_bits(r->control, 1u, 0u) == STM32DVFS_OK ? STM32DVFS_OK : STM32DVFS_ERROR_DMA;
  if (status == STM32DVFS_OK) {
    status = stm32dvfs_dma_family_configure(dst, src, items, item_bytes);
  }
  if (status == STM32DVFS_OK) {
    *r->control |= 1u;
  }
  for (uint32_t polls = 0; status == STM32DVFS_OK; ++polls) {
    const uint32_t flags = *r->flags;
    if ((flags & r->errors) != 0u || polls == STM32DVFS_DMA_TIMEOUT) {
      status = STM32DVFS_ERROR_DMA;
    } else if ((flags & r->done) != 0u) {
      break;
    }
  }
  *r->control &= ~1u;
  *r->clear = r->clear_all;
  return status;
}

int stm32dvfs_dma_copy(void* dst, const void* src, uint32_t bytes)
{
  uint8_t* d = (uint8_t*)dst;
  const uint8_t* s = (const uint8_t*)src;
  const uint32_t item_bytes = (((uintptr_t)d | (uintptr_t)s) & 3u) == 0u ? 4u : 1u;
  uint32_t items = bytes / item_bytes;
  int status = STM32DVFS_OK;
  while (items > 0u && status == STM32DVFS_OK) {
    const uint32_t n = items > STM32DVFS_DMA_MAX_ITEMS ? STM32DVFS_DMA_MAX_ITEMS : items;
    status = transfer(d, s, n, item_bytes);
    if (status == STM32DVFS_OK) {
      d += n * item_bytes;
      s += n * item_bytes;
      bytes -= n * item_bytes;
      items -= n;
    }
  }
  memcpy(d, s, bytes); /* the tail short of a word, or what a failed transfer left */
  if (status != STM32DVFS_OK && dma_status == STM32DVFS_OK) {
    dma_status = status;
  }
  return status;
}

#else

int stm32dvfs_dma_copy(void* dst, const void* src, uint32_t bytes)
{
  memcpy(dst, src, bytes);
  return STM32DVFS_OK;
}

#endif
