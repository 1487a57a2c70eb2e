/*
 * The DMA access of a decoupled layer (see stm32dvfs_runtime.h): stm32dvfs_dma_copy_sleep() (sleep
 * mode), stm32dvfs_dma_prefetch() and stm32dvfs_dma_await() (overlap mode).
 *
 * Board builds (STM32DVFS_PLATFORM_BOARD) move the bytes with the family's DMA controller
 * (stm32dvfs_dma_family.h): word items where both ends are word-aligned (a quarter of the bus
 * transactions of byte items), at most STM32DVFS_DMA_MAX_ITEMS a transfer, each waited for with a
 * bounded number of polls; the last bytes short of a word by the CPU. A transfer that fails or
 * times out leaves the rest of the copy to the CPU, so the tile is right, and is reported:
 * stm32dvfs_dma_take_status() returns STM32DVFS_ERROR_DMA, and stm32dvfs_model_run() with it.
 *
 * The sleeping wait: the channel's transfer-complete interrupt is enabled in the channel and the
 * NVIC while PRIMASK masks it, so it wakes the core from WFI (ARMv7-M: WFI returns on an interrupt
 * that would be taken if PRIMASK were clear) without a handler; afterwards the interrupt is disabled
 * and its pending bit cleared, and PRIMASK restored. The flags are read before every WFI, so a
 * transfer that ends before the core sleeps is not waited for.
 *
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

static void remember(int status)
{
  if (status != STM32DVFS_OK && dma_status == STM32DVFS_OK) {
    dma_status = status;
  }
}

/** Polls of the transfer's flags (or wake-ups) before it counts as failed (a 64 KiB transfer at
 *  one byte per bus cycle is far shorter). */
#define STM32DVFS_DMA_TIMEOUT 1000000u

/* The NVIC's set-enable, clear-enable and clear-pending registers (ARMv7-M ARM, B3.4). */
#define NVIC_ISER ((volatile uint32_t*)0xE000E100u)
#define NVIC_ICER ((volatile uint32_t*)0xE000E180u)
#define NVIC_ICPR ((volatile uint32_t*)0xE000E280u)

/** The transfer stm32dvfs_dma_prefetch() started and no await has taken yet (bytes 0: none). */
static struct {
  void* dst;
  const void* src;
  uint32_t bytes;
} pending;

static uint32_t item_bytes_of(const void* dst, const void* src)
{
  return (((uintptr_t)dst | (uintptr_t)src) & 3u) == 0u ? 4u : 1u;
}

/* Program and enable one transfer. A channel is programmed only while it reads disabled (a stream
 * ends its current burst first) and enabled once programmed. */
static int start(void* dst, const void* src, uint32_t items, uint32_t item_bytes, int interrupt)
{
  const stm32dvfs_dma_channel_regs* r = &stm32dvfs_dma_family;
  *r->control &= ~1u;
  int status = stm32dvfs_wait_bits(r->control, 1u, 0u) == STM32DVFS_OK ? STM32DVFS_OK : STM32DVFS_ERROR_DMA;
  if (status == STM32DVFS_OK) {
    status = stm32dvfs_dma_family_configure(dst, src, items, item_bytes, interrupt);
  }
  if (status == STM32DVFS_OK) {
    *r->control |= 1u;
  }
  return status;
}

/* Wait for the running transfer to end, polling or (``sleep``) in WFI; then disable the channel
 * (the L4+ keeps EN set after a transfer) and clear its flags. */
static int finish(int status, int sleep)
{
  const stm32dvfs_dma_channel_regs* r = &stm32dvfs_dma_family;
  uint32_t primask = 0u;
  const uint32_t irq_bit = 1u << (r->irq % 32u);
  const int sleeping = sleep && status == STM32DVFS_OK;
  if (sleeping) {
    __asm volatile("mrs %0, primask" : "=r"(primask));
    __asm volatile("cpsid i" ::: "memory");
    NVIC_ISER[r->irq / 32u] = irq_bit;
  }
  for (uint32_t polls = 0; status == STM32DVFS_OK; ++polls) {
    const uint32_t flags = *r->flags;
    if ((flags & r->errors) != 0u || polls == STM32DVFS_DMA_TIMEOUT) {
      status = STM32DVFS_ERROR_DMA;
    } else if ((flags & r->done) != 0u) {
      break;
    } else if (sleeping) {
      __asm volatile("wfi" ::: "memory");
    }
  }
  *r->control &= ~1u;
  *r->clear = r->clear_all;
  if (sleeping) {
    NVIC_ICER[r->irq / 32u] = irq_bit;
    NVIC_ICPR[r->irq / 32u] = irq_bit;
    __asm volatile("msr primask, %0" ::"r"(primask) : "memory");
  }
  return status;
}

/* Copy by transfers of at most STM32DVFS_DMA_MAX_ITEMS items, each waited for; the CPU copies the
 * tail short of a word and whatever a failed transfer left. */
static int copy(void* dst, const void* src, uint32_t bytes, int sleep)
{
  uint8_t* d = (uint8_t*)dst;
  const uint8_t* s = (const uint8_t*)src;
  const uint32_t item_bytes = item_bytes_of(d, s);
  uint32_t items = bytes / item_bytes;
  int status = STM32DVFS_OK;
  while (items > 0u && status == STM32DVFS_OK) {
    const uint32_t n = items > STM32DVFS_DMA_MAX_ITEMS ? STM32DVFS_DMA_MAX_ITEMS : items;
    status = finish(start(d, s, n, item_bytes, sleep), sleep);
    if (status == STM32DVFS_OK) {
      d += n * item_bytes;
      s += n * item_bytes;
      bytes -= n * item_bytes;
      items -= n;
    }
  }
  memcpy(d, s, bytes);
  remember(status);
  return status;
}

/* End a prefetch nobody awaits any more (not expected from the generated code): its destination
 * must not be written behind the program's back. */
static void drop_pending(void)
{
  if (pending.bytes != 0u) {
    remember(finish(STM32DVFS_OK, 0));
    pending.bytes = 0u;
  }
}

int stm32dvfs_dma_copy_sleep(void* dst, const void* src, uint32_t bytes)
{
  drop_pending();
  return copy(dst, src, bytes, 1);
}

int stm32dvfs_dma_prefetch(void* dst, const void* src, uint32_t bytes)
{
  drop_pending();
  const uint32_t item_bytes = item_bytes_of(dst, src);
  const uint32_t items = bytes / item_bytes;
  if (items == 0u || items > STM32DVFS_DMA_MAX_ITEMS) {
    return STM32DVFS_OK; /* nothing to start, or more than one transfer: the await copies */
  }
  const int status = start(dst, src, items, item_bytes, 0);
  if (status != STM32DVFS_OK) {
    remember(finish(status, 0));
    return STM32DVFS_OK; /* the await copies */
  }
  pending.dst = dst;
  pending.src = src;
  pending.bytes = items * item_bytes;
  return STM32DVFS_OK;
}

int stm32dvfs_dma_await(void* dst, const void* src, uint32_t bytes)
{
  if (pending.bytes == 0u || pending.dst != dst || pending.src != src || pending.bytes > bytes) {
    drop_pending();
    return copy(dst, src, bytes, 0);
  }
  const uint32_t moved = pending.bytes;
  pending.bytes = 0u;
  const int status = finish(STM32DVFS_OK, 0);
  remember(status);
  if (status != STM32DVFS_OK) {
    memcpy(dst, src, bytes);
  } else {
    memcpy((uint8_t*)dst + moved, (const uint8_t*)src + moved, bytes - moved);
  }
  return status;
}

#else

int stm32dvfs_dma_copy_sleep(void* dst, const void* src, uint32_t bytes)
{
  memcpy(dst, src, bytes);
  return STM32DVFS_OK;
}

int stm32dvfs_dma_prefetch(void* dst, const void* src, uint32_t bytes)
{
  (void)dst;
  (void)src;
  (void)bytes;
  return STM32DVFS_OK;
}

int stm32dvfs_dma_await(void* dst, const void* src, uint32_t bytes)
{
  memcpy(dst, src, bytes);
  return STM32DVFS_OK;
}

#endif
