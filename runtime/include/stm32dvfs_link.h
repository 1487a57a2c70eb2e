/**
 * @file stm32dvfs_link.h
 * @brief The byte link to the host that the framed protocol (stm32dvfs_frame.h) runs over: the
 *        board's console, wired to the ST-LINK virtual COM port (runtime/board/stm32dvfs_link_board.c),
 *        or the QEMU platform's UART (runtime/qemu/stm32dvfs_link_qemu.c).
 */
#ifndef STM32DVFS_LINK_H
#define STM32DVFS_LINK_H

#include <stdint.h>

/** Switch the link on for a core clock of ``cpu_hz`` (0: the reset clock): the console's baud
 *  divisor follows the clock, so call it again after the clock changed. */
void stm32dvfs_link_init(uint32_t cpu_hz);
/** Send one byte (waits while the transmitter is full). */
void stm32dvfs_link_put(uint8_t c);
/** The next received byte (waits for it). */
uint8_t stm32dvfs_link_get(void);
/** Wait until every byte sent has left: before the clock changes, which would garble it. */
void stm32dvfs_link_flush(void);

#endif /* STM32DVFS_LINK_H */
