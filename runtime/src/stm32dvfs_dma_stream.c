/*
 * DMA driver of the stream controllers: STM32F4/F7 DMA2 and STM32H7 DMA1, stream 0; the steps of
 * stm32dvfs_dma_family.h, which stm32dvfs_dma.c runs.
 *
 * RM0383 (F411) section 9 and RM0385/RM0410 (F746/F767) section 8, "Direct memory access
 * controller (DMA)": of the two controllers only DMA2 does memory-to-memory; stream x has its
 * registers at 0x10 + 0x18 * x; memory-to-memory runs through the FIFO (direct mode disabled,
 * SxFCR.DMDIS), from the address in SxPAR to the one in SxM0AR; a stream is configured only while
 * SxCR.EN reads 0 (the stream configuration procedure), and the hardware clears EN when the
 * transfer ends. Bursts of four words fill the FIFO threshold (full, 16 bytes) at once.
 * RM0433 (H743) section 15 "DMA controller" (the same stream registers, at DMA1) and section 17
 * "DMAMUX": memory-to-memory takes no request line (DMAMUX1 channel 0, DMA1 stream 0's, set to
 * 0); DMA1 and DMA2 sit in the D2 domain and reach neither the ITCM nor the DTCM, so the driver
 * refuses those addresses (the runtime then copies with the CPU and reports the failure).
 */
#include "stm32dvfs_status.h"

#if defined(STM32DVFS_PLATFORM_BOARD) && \
    (defined(STM32DVFS_FAMILY_F4) || defined(STM32DVFS_FAMILY_F7) || defined(STM32DVFS_FAMILY_H7))

#include <stdint.h>

#include "stm32dvfs_dma_family.h"

#define REG(address) (*(volatile uint32_t*)(address))

#if defined(STM32DVFS_FAMILY_H7)
#define DMA_BASE 0x40020000u                  /* DMA1 */
#define RCC_AHB1ENR REG(0x580244D8u)         /* RM0433 section 8.7.42 */
#define RCC_AHB1ENR_DMAEN (1u << 0)          /* DMA1EN */
#define DMAMUX1_C0CR REG(0x40020800u)
#define ITCM_END 0x00010000u                 /* 64 KiB at 0 */
#define DTCM_BEGIN 0x20000000u               /* 128 KiB */
#define DTCM_END 0x20020000u
#define DMA_S0_IRQ 11u                        /* DMA1_Stream0 (RM0433, NVIC section: vector table) */
#else
#define DMA_BASE 0x40026400u                  /* DMA2 */
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_AHB1ENR_DMAEN (1u << 22)         /* DMA2EN */
#define DMA_S0_IRQ 56u                        /* DMA2_Stream0 (RM0383 / RM0385, NVIC section: vector table) */
#endif

#define DMA_LISR REG(DMA_BASE + 0x00u)
#define DMA_LIFCR REG(DMA_BASE + 0x08u)
#define DMA_S0CR REG(DMA_BASE + 0x10u)
#define DMA_S0NDTR REG(DMA_BASE + 0x14u)
#define DMA_S0PAR REG(DMA_BASE + 0x18u)
#define DMA_S0M0AR REG(DMA_BASE + 0x1Cu)
#define DMA_S0FCR REG(DMA_BASE + 0x24u)

#define DMA_SxCR_TCIE (1u << 4)
#define DMA_SxCR_DIR_M2M (2u << 6)
#define DMA_SxCR_PINC (1u << 9)
#define DMA_SxCR_MINC (1u << 10)
#define DMA_SxCR_PSIZE_SHIFT 11u
#define DMA_SxCR_MSIZE_SHIFT 13u
#define DMA_SxCR_PBURST_INC4 (1u << 21)
#define DMA_SxCR_MBURST_INC4 (1u << 23)
#define DMA_SxFCR_DMDIS (1u << 2)
#define DMA_SxFCR_FTH_FULL 3u
#define DMA_LISR_S0_ERRORS ((1u << 0) | (1u << 2) | (1u << 3)) /* FEIF0, DMEIF0, TEIF0 */
#define DMA_LISR_TCIF0 (1u << 5)
#define DMA_LIFCR_S0_ALL 0x3Du

static int reachable(const void* p)
{
#if defined(STM32DVFS_FAMILY_H7)
  const uintptr_t a = (uintptr_t)p;
  return a >= ITCM_END && (a < DTCM_BEGIN || a >= DTCM_END);
#else
  (void)p;
  return 1;
#endif
}

const stm32dvfs_dma_channel_regs stm32dvfs_dma_family = {
    .control = &DMA_S0CR, .flags = &DMA_LISR, .clear = &DMA_LIFCR,
    .done = DMA_LISR_TCIF0, .errors = DMA_LISR_S0_ERRORS, .clear_all = DMA_LIFCR_S0_ALL,
    .irq = DMA_S0_IRQ,
};

int stm32dvfs_dma_family_configure(void* dst, const void* src, uint32_t items, uint32_t item_bytes,
                                   int interrupt)
{
  if (!reachable(dst) || !reachable(src)) {
    return STM32DVFS_ERROR_DMA;
  }
  RCC_AHB1ENR |= RCC_AHB1ENR_DMAEN;
#if defined(STM32DVFS_FAMILY_H7)
  DMAMUX1_C0CR = 0u;
#endif
  DMA_LIFCR = DMA_LIFCR_S0_ALL;
  DMA_S0PAR = (uint32_t)(uintptr_t)src;
  DMA_S0M0AR = (uint32_t)(uintptr_t)dst;
  DMA_S0NDTR = items;
  DMA_S0FCR = DMA_SxFCR_DMDIS | DMA_SxFCR_FTH_FULL;
  const uint32_t size = item_bytes == 4u ? 2u : 0u;
  const uint32_t burst = item_bytes == 4u && items % 4u == 0u ? DMA_SxCR_PBURST_INC4 | DMA_SxCR_MBURST_INC4 : 0u;
  DMA_S0CR = DMA_SxCR_DIR_M2M | DMA_SxCR_PINC | DMA_SxCR_MINC | (size << DMA_SxCR_PSIZE_SHIFT) |
             (size << DMA_SxCR_MSIZE_SHIFT) | burst | (interrupt ? DMA_SxCR_TCIE : 0u);
  return STM32DVFS_OK;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int stm32dvfs_dma_stream_unused;
#endif
