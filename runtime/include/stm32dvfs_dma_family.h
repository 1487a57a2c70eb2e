/**
 * @file stm32dvfs_dma_family.h
 * @brief What a family's DMA driver gives the copy of stm32dvfs_dma.c: one memory-to-memory
 *        transfer at a time, on one channel (stream) reserved for the runtime.
 *
 * runtime/src/stm32dvfs_dma.c splits a copy into transfers of at most STM32DVFS_DMA_MAX_ITEMS
 * items; for each it disables the channel (``stm32dvfs_dma_family``), has the family's driver
 * program it, enables it, waits for it on the channel's flags with a bounded number of polls
 * (polling, or in WFI with the transfer-complete interrupt enabled), and falls back to a CPU copy
 * when one fails. The controllers: runtime/src/stm32dvfs_dma_stream.c (the stream DMA of
 * the F4/F7, DMA2, and of the H7, DMA1) and runtime/src/stm32dvfs_dma_channel.c (the channel DMA
 * of the L4+, DMA1 behind DMAMUX1). Board builds only.
 */
#ifndef STM32DVFS_DMA_FAMILY_H
#define STM32DVFS_DMA_FAMILY_H

#include <stdint.h>

/** The most items one transfer moves (the 16-bit item counters: SxNDTR, CNDTRx). */
#define STM32DVFS_DMA_MAX_ITEMS 65535u

/** The registers of the runtime's channel (stream) that stm32dvfs_dma.c reads and clears. */
typedef struct {
  volatile uint32_t* control; /**< SxCR / DMA_CCRx: EN in bit 0 */
  volatile uint32_t* flags;   /**< LISR / DMA_ISR */
  volatile uint32_t* clear;   /**< LIFCR / DMA_IFCR */
  uint32_t done;              /**< the channel's transfer-complete flag */
  uint32_t errors;            /**< its error flags */
  uint32_t clear_all;         /**< what clears all of its flags */
  uint32_t irq;               /**< its interrupt's number in the NVIC (the vector table's position) */
} stm32dvfs_dma_channel_regs;

extern const stm32dvfs_dma_channel_regs stm32dvfs_dma_family;

/** Program the channel, which reads disabled, for ``items`` items of ``item_bytes`` (1 or 4)
 *  bytes from ``src`` to ``dst``, with its transfer-complete interrupt enabled when ``interrupt``
 *  (stm32dvfs_dma.c enables the channel). STM32DVFS_ERROR_DMA when the controller cannot reach an
 *  address. */
int stm32dvfs_dma_family_configure(void* dst, const void* src, uint32_t items, uint32_t item_bytes,
                                   int interrupt);

#endif /* STM32DVFS_DMA_FAMILY_H */
