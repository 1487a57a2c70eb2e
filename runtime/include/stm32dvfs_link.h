/**
 * @file stm32dvfs_link.h
 * @brief The byte link to the host that the framed protocol (stm32dvfs_frame.h) runs over: the
 *        QEMU platform's UART (runtime/qemu/stm32dvfs_link_qemu.c).
 */
#ifndef STM32DVFS_LINK_H
#define STM32DVFS_LINK_H

#include <stdint.h>

void stm32dvfs_link_init(void);
/** Send one byte (waits while the transmitter is full). */
void stm32dvfs_link_put(uint8_t c);
/** The next received byte (waits for it). */
uint8_t stm32dvfs_link_get(void);

#endif /* STM32DVFS_LINK_H */
