/**
 * @file stm32dvfs_board_io.h
 * @brief The board's console (the USART/LPUART wired to the ST-LINK virtual COM port) and the
 *        phase marker pin (a GPIO a power analyser or logic analyser triggers on).
 *
 * Which peripheral and pins a board uses comes from its board file, emitted by the project into
 * board_io_config.h; the register maps are the families' (stm32dvfs_board_io.c).
 */
#ifndef STM32DVFS_BOARD_IO_H
#define STM32DVFS_BOARD_IO_H

#include <stdint.h>

#include "board_io_config.h"

/** Switch the console on (transmitter and receiver), 8N1 at STM32DVFS_CONSOLE_BAUD, for a core clock of ``cpu_hz``
 *  (0: the reset clock). Call again after the clock changed. */
void stm32dvfs_console_init(uint32_t cpu_hz);

/** Send one character (waits, bounded, for the transmit register; drops it on a timeout). */
void stm32dvfs_console_putc(char c);

/** The next character received (waits for it, however long: the host sends when it is ready). A
 *  character lost to an overrun is not reported here; the protocol's CRC finds it. */
char stm32dvfs_console_getc(void);

/** Wait (bounded) until the last character has left the shift register. */
void stm32dvfs_console_flush(void);

/** Configure the marker pin as a push-pull output, low. */
void stm32dvfs_marker_init(void);

/** Invert the marker pin. */
void stm32dvfs_marker_toggle(void);

#endif /* STM32DVFS_BOARD_IO_H */
