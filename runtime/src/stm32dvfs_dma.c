/*
 * Memory-to-memory copies for the DMA access method (see stm32dvfs_runtime.h).
 *
 * STM32DVFS_DMA2_STREAM0 selects the register-level driver of the STM32F7/H7 DMA2 (RM0385 §8
 * "DMA controller": stream x registers at 0x10 + 0x18 * x; memory-to-memory needs the FIFO, so
 * direct mode is disabled). Every other build (host, emulator, QEMU) copies with memcpy.
 * The driver is compiled in CI but has not run on silicon here (no board attached).
 */
#include <stdint.h>
#include <string.h>

#include "stm32dvfs_runtime.h"
#include "stm32dvfs_status.h"

#if defined(STM32DVFS_DMA2_STREAM0)

#define DMA2_BASE 0x40026400u
#define RCC_AHB1ENR (*(volatile uint32_t*)0x40023830u) /* RM0385 RCC_AHB1ENR, DMA2EN bit 22 */
#define DMA2_LISR (*(volatile uint32_t*)(DMA2_BASE + 0x00u))
#define DMA2_LIFCR (*(volatile uint32_t*)(DMA2_BASE + 0x08u))
#define DMA2_S0CR (*(volatile uint32_t*)(DMA2_BASE + 0x10u))
#define DMA2_S0NDTR (*(volatile uint32_t*)(DMA2_BASE + 0x14u))
#define DMA2_S0PAR (*(volatile uint32_t*)(DMA2_BASE + 0x18u))
#define DMA2_S0M0AR (*(volatile uint32_t*)(DMA2_BASE + 0x1Cu))
#define DMA2_S0FCR (*(volatile uint32_t*)(DMA2_BASE + 0x24u))

#define DMA_SxCR_EN (1u << 0)
#define DMA_SxCR_DIR_M2M (2u << 6)
#define DMA_SxCR_PINC (1u << 9)
#define DMA_SxCR_MINC (1u << 10)
#define DMA_SxFCR_DMDIS (1u << 2)
#define DMA_SxFCR_FTH_FULL (3u << 0)
#define DMA_LISR_S0_ERRORS ((1u << 0) | (1u << 2) | (1u << 3)) /* FEIF0, DMEIF0, TEIF0 */
#define DMA_LISR_TCIF0 (1u << 5)
#define DMA_LIFCR_S0_ALL 0x3Du
#define DMA_MAX_ITEMS 65535u
#define DMA_TIMEOUT_POLLS 1000000u

int stm32dvfs_dma_copy(void* dst, const void* src, uint32_t bytes)
{
  RCC_AHB1ENR |= 1u << 22;
  uint8_t* d = (uint8_t*)dst;
  const uint8_t* s = (const uint8_t*)src;
  while (bytes > 0u) {
    const uint32_t items = bytes > DMA_MAX_ITEMS ? DMA_MAX_ITEMS : bytes;
    DMA2_S0CR &= ~DMA_SxCR_EN;
    while ((DMA2_S0CR & DMA_SxCR_EN) != 0u) {
    }
    DMA2_LIFCR = DMA_LIFCR_S0_ALL;
    DMA2_S0PAR = (uint32_t)(uintptr_t)s; /* memory-to-memory: the source goes in PAR */
    DMA2_S0M0AR = (uint32_t)(uintptr_t)d;
    DMA2_S0NDTR = items;
    DMA2_S0FCR = DMA_SxFCR_DMDIS | DMA_SxFCR_FTH_FULL;
    DMA2_S0CR = DMA_SxCR_DIR_M2M | DMA_SxCR_PINC | DMA_SxCR_MINC | DMA_SxCR_EN; /* byte-wide items */
    uint32_t polls = 0u;
    while ((DMA2_LISR & (DMA_LISR_TCIF0 | DMA_LISR_S0_ERRORS)) == 0u) {
      if (++polls == DMA_TIMEOUT_POLLS) {
        DMA2_S0CR &= ~DMA_SxCR_EN;
        return 3;
      }
    }
    if ((DMA2_LISR & DMA_LISR_S0_ERRORS) != 0u) {
      DMA2_LIFCR = DMA_LIFCR_S0_ALL;
      return 3;
    }
    DMA2_LIFCR = DMA_LIFCR_S0_ALL;
    d += items;
    s += items;
    bytes -= items;
  }
  return STM32DVFS_OK;
}

#else

int stm32dvfs_dma_copy(void* dst, const void* src, uint32_t bytes)
{
  memcpy(dst, src, bytes);
  return STM32DVFS_OK;
}

#endif
