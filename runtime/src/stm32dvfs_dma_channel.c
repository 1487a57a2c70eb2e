/*
 * DMA driver of the channel controller of the STM32L4+ (DMA1 channel 1 behind DMAMUX1 channel 0):
 * the steps of stm32dvfs_dma_family.h, which stm32dvfs_dma.c runs.
 *
 * RM0432 (L4R5) section 11 "Direct memory access controller (DMA)" and section 12 "DMA request
 * multiplexer (DMAMUX)": memory-to-memory (DMA_CCRx.MEM2MEM) takes no request line (DMAMUX1
 * channel 0 set to 0); with DIR = 0 the channel reads from the address in CPARx and writes to the
 * one in CMARx; the configuration bits of CCRx are written only while EN is 0, and EN stays set
 * after the transfer until software clears it. DMA1 and DMAMUX1 each have their clock enable in
 * RCC_AHB1ENR.
 */
#include "stm32dvfs_status.h"

#if defined(STM32DVFS_PLATFORM_BOARD) && defined(STM32DVFS_FAMILY_L4)

#include <stdint.h>

#include "stm32dvfs_dma_family.h"

#define REG(address) (*(volatile uint32_t*)(address))

#define DMA1_BASE 0x40020000u
#define DMA_ISR REG(DMA1_BASE + 0x00u)
#define DMA_IFCR REG(DMA1_BASE + 0x04u)
#define DMA_CCR1 REG(DMA1_BASE + 0x08u)
#define DMA_CNDTR1 REG(DMA1_BASE + 0x0Cu)
#define DMA_CPAR1 REG(DMA1_BASE + 0x10u)
#define DMA_CMAR1 REG(DMA1_BASE + 0x14u)
#define DMAMUX1_C0CR REG(0x40020800u)
#define RCC_AHB1ENR REG(0x40021048u)
#define RCC_AHB1ENR_DMA1EN (1u << 0)
#define RCC_AHB1ENR_DMAMUX1EN (1u << 2)

#define DMA_CCR_TCIE (1u << 1)
#define DMA_CCR_PINC (1u << 6)
#define DMA_CCR_MINC (1u << 7)
#define DMA_CCR_PSIZE_SHIFT 8u
#define DMA_CCR_MSIZE_SHIFT 10u
#define DMA_CCR_MEM2MEM (1u << 14)
#define DMA_ISR_TCIF1 (1u << 1)
#define DMA_ISR_TEIF1 (1u << 3)
#define DMA_IFCR_CGIF1 (1u << 0)
#define DMA1_CH1_IRQ 11u /* DMA1_CH1 (RM0432, NVIC section: vector table) */

const stm32dvfs_dma_channel_regs stm32dvfs_dma_family = {
    .control = &DMA_CCR1, .flags = &DMA_ISR, .clear = &DMA_IFCR,
    .done = DMA_ISR_TCIF1, .errors = DMA_ISR_TEIF1, .clear_all = DMA_IFCR_CGIF1, .irq = DMA1_CH1_IRQ,
};

int stm32dvfs_dma_family_configure(void* dst, const void* src, uint32_t items, uint32_t item_bytes,
                                   int interrupt)
{
  RCC_AHB1ENR |= RCC_AHB1ENR_DMA1EN | RCC_AHB1ENR_DMAMUX1EN;
  DMAMUX1_C0CR = 0u;
  DMA_IFCR = DMA_IFCR_CGIF1;
  DMA_CPAR1 = (uint32_t)(uintptr_t)src;
  DMA_CMAR1 = (uint32_t)(uintptr_t)dst;
  DMA_CNDTR1 = items;
  const uint32_t size = item_bytes == 4u ? 2u : 0u;
  DMA_CCR1 = DMA_CCR_MEM2MEM | DMA_CCR_PINC | DMA_CCR_MINC | (size << DMA_CCR_PSIZE_SHIFT) |
             (size << DMA_CCR_MSIZE_SHIFT) | (interrupt ? DMA_CCR_TCIE : 0u);
  return STM32DVFS_OK;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int stm32dvfs_dma_channel_unused;
#endif
