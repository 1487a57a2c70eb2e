/**
 * @file stm32dvfs_profile.h
 * @brief Cycles per layer and phase of the inferences a profiling firmware runs, and the CSV
 *        `stm32dvfs calibrate` reads (layer,phase,hz,wait_states,cycles).
 *
 * The counter is the DWT cycle counter on the boards and SysTick (24 bits, processor clock) on
 * the QEMU platform, whose Cortex-M has no DWT cycle counter: under QEMU's -icount the SysTick
 * counts the virtual clock, so the cycles are deterministic (one instruction per cycle at the
 * -icount shift that makes an instruction one SYSCLK period long).
 */
#ifndef STM32DVFS_PROFILE_H
#define STM32DVFS_PROFILE_H

#include <stdint.h>

#include "stm32dvfs_plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The SYSCLK of QEMU's mps2-an500 (hw/arm/mps2.c: 25 MHz), which its SysTick counts. */
#define STM32DVFS_QEMU_SYSCLK_HZ 25000000u

/** Count cycles per layer into ``cycles`` (``layers`` rows of access, execute, plain), chaining
 *  the phase handler installed before (the plan's); ``on_event`` (or NULL) runs at every phase
 *  event (the board's marker pin). */
void stm32dvfs_profile_start(uint32_t (*cycles)[3], uint32_t layers, void (*on_event)(void));

/** After an inference: the open phase is closed and nothing counts until the next layer. */
void stm32dvfs_profile_pause(void);

/** ``value`` in decimal through ``put`` (the report writers of the applications use these too). */
void stm32dvfs_put_u32(void (*put)(char), uint32_t value);
void stm32dvfs_put_i32(void (*put)(char), int32_t value);
/** ``text`` (NUL-terminated) through ``put``. */
void stm32dvfs_put_text(void (*put)(char), const char* text);

/** The CSV of the cycles counted, per inference of ``repeat``: the state of each phase from
 *  ``plan`` (or ``hz`` and 0 wait states without one). A decoupled layer's few cycles before its
 *  first phase ran in its access state and count there, as the compiler's profile does. */
void stm32dvfs_profile_csv(void (*put)(char), uint32_t (*cycles)[3], uint32_t layers, uint32_t repeat,
                           const stm32dvfs_plan* plan, uint32_t hz);

#ifdef __cplusplus
}
#endif

#endif /* STM32DVFS_PROFILE_H */
