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

/**
 * @brief Copy ``bytes`` from ``src`` to ``dst`` by memory-to-memory DMA and wait for it (the DMA
 *        access method of a decoupled layer).
 *
 * Board builds drive the family's DMA controller (runtime/src/stm32dvfs_dma.c and the controller
 * drivers it names); host and QEMU builds copy with memcpy. Buffers must not overlap; the
 * Cortex-M7 data cache stays off (the projects' start-up code leaves it as reset does), so no cache
 * maintenance is needed. A transfer that fails is
 * finished by the CPU (the copy is always complete) and remembered for stm32dvfs_dma_take_status().
 * @return STM32DVFS_OK or STM32DVFS_ERROR_DMA.
 */
int stm32dvfs_dma_copy(void* dst, const void* src, uint32_t bytes);

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
