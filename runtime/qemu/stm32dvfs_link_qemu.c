/*
 * The serial link of the QEMU platform: UART0 of the mps2-an500 (an Arm CMSDK APB UART at
 * 0x40004000, QEMU's first -serial device). DATA at 0x00, STATE at 0x04 (bit 0 TX full, bit 1 RX
 * full), CTRL at 0x08 (bit 0 TX enable, bit 1 RX enable), BAUDDIV at 0x10 (at least 16; QEMU does
 * not time the line). Arm CMSDK peripherals TRM (DDI 0479), section 4.2, UART.
 */
#include <stdint.h>

#include "stm32dvfs_link.h"

#define UART0_DATA (*(volatile uint32_t*)0x40004000u)
#define UART0_STATE (*(volatile uint32_t*)0x40004004u)
#define UART0_CTRL (*(volatile uint32_t*)0x40004008u)
#define UART0_BAUDDIV (*(volatile uint32_t*)0x40004010u)
#define STATE_TX_FULL 1u
#define STATE_RX_FULL 2u

void stm32dvfs_link_init(uint32_t cpu_hz)
{
  (void)cpu_hz; /* QEMU does not time the line */
  UART0_BAUDDIV = 16u;
  UART0_CTRL = 3u; /* TX and RX enabled */
}

void stm32dvfs_link_put(uint8_t c)
{
  while ((UART0_STATE & STATE_TX_FULL) != 0u) {
  }
  UART0_DATA = c;
}

uint8_t stm32dvfs_link_get(void)
{
  while ((UART0_STATE & STATE_RX_FULL) == 0u) {
  }
  return (uint8_t)UART0_DATA;
}

void stm32dvfs_link_flush(void)
{
  /* QEMU's UART sends a byte when DATA is written */
}
