/**
 * @file stm32dvfs_runtime.h
 * @brief Phase hooks of a generated model: where the DVFS plan switches clocks.
 *
 * The model calls stm32dvfs_layer_begin(i) before layer i, and every decoupled kernel calls
 * stm32dvfs_phase(STM32DVFS_ACCESS) before gathering a tile into its SRAM buffers and
 * stm32dvfs_phase(STM32DVFS_EXECUTE) before computing on them. With no plan installed a hook
 * costs a call and a counter increment; a platform port installs a handler that looks the
 * clock state up in the plan table and switches to it.
 */
#ifndef STM32DVFS_RUNTIME_H
#define STM32DVFS_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  STM32DVFS_ACCESS = 0,  /**< memory-bound: gather the tile's input patch and weights */
  STM32DVFS_EXECUTE = 1, /**< compute-bound: multiply-accumulate on the tile buffers */
  STM32DVFS_PLAIN = 2,   /**< a layer that is not decoupled (both kinds of work interleaved) */
} stm32dvfs_phase_kind;

/** Called by a port for every phase event: (layer, phase). NULL: no handler. */
typedef void (*stm32dvfs_phase_handler)(uint32_t layer, stm32dvfs_phase_kind phase);

/** Install the handler (the DVFS driver or a profiler); returns the previous one. */
stm32dvfs_phase_handler stm32dvfs_set_phase_handler(stm32dvfs_phase_handler handler);

/** Start layer ``layer`` (0-based, execution order). Its first phase is STM32DVFS_PLAIN until a
 *  decoupled kernel announces one. */
void stm32dvfs_layer_begin(uint32_t layer);

/** Announce the phase that follows, within the current layer. */
void stm32dvfs_phase(stm32dvfs_phase_kind phase);

/*
 * The DMA access of a decoupled layer: a tile's weight slice copied from flash into the staging
 * part of its tile buffer by memory-to-memory DMA, in one of two modes (the plan's choice per layer):
 *
 * - sleep: stm32dvfs_dma_copy_sleep() starts the transfer and the core waits for it in WFI, woken
 *   by the transfer-complete interrupt (taken as a wake-up only: PRIMASK is set, no handler runs);
 * - overlap: stm32dvfs_dma_prefetch() starts the transfer of the next tile's slice and returns;
 *   the core executes the current tile meanwhile; stm32dvfs_dma_await() of the next tile waits
 *   for it (and copies now if no matching transfer is running).
 *
 * Board builds drive the family's DMA controller (runtime/src/stm32dvfs_dma.c and the controller
 * drivers it names); host and QEMU builds copy with memcpy (in stm32dvfs_dma_copy_sleep() and
 * stm32dvfs_dma_await(); the prefetch does nothing there). Buffers must not overlap; the
 * Cortex-M7 data cache stays off (the projects' start-up code leaves it as reset does), so no cache
 * maintenance is needed. A transfer that fails is finished by the CPU (the copy is always complete)
 * and remembered for stm32dvfs_dma_take_status().
 */

/** Copy ``bytes`` from ``src`` to ``dst`` by DMA, sleeping until it is done.
 *  @return STM32DVFS_OK or STM32DVFS_ERROR_DMA. */
int stm32dvfs_dma_copy_sleep(void* dst, const void* src, uint32_t bytes);

/** Start copying ``bytes`` from ``src`` to ``dst`` by DMA and return; the destination is the
 *  transfer's until stm32dvfs_dma_await() of the same copy. @return STM32DVFS_OK. */
int stm32dvfs_dma_prefetch(void* dst, const void* src, uint32_t bytes);

/** Make ``dst`` hold the ``bytes`` at ``src``: wait for the prefetch of exactly this copy, or copy
 *  now (first waiting out any other transfer). @return STM32DVFS_OK or STM32DVFS_ERROR_DMA. */
int stm32dvfs_dma_await(void* dst, const void* src, uint32_t bytes);

/** The first DMA failure since the last call (STM32DVFS_OK if none), cleared: what
 *  stm32dvfs_model_run() returns after an inference whose copies all completed. */
int stm32dvfs_dma_take_status(void);

/** Number of phase events (layer starts included) since the last reset: a switch count. */
uint32_t stm32dvfs_phase_events(void);
void stm32dvfs_reset_phase_events(void);

#ifdef __cplusplus
}
#endif

#endif /* STM32DVFS_RUNTIME_H */
