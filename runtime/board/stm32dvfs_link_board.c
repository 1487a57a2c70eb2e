/*
 * The board's side of the link (stm32dvfs_link.h): the console U(S)ART the board file names, which
 * the ST-LINK bridges to the host's virtual COM port (/dev/ttyACM0).
 */
#include "stm32dvfs_board_io.h"
#include "stm32dvfs_link.h"

#if !defined(STM32DVFS_CONSOLE)
#error "the link application needs a console: add [console] to the board file"
#endif

void stm32dvfs_link_init(uint32_t cpu_hz)
{
  stm32dvfs_console_init(cpu_hz);
}

void stm32dvfs_link_put(uint8_t c)
{
  stm32dvfs_console_putc((char)c);
}

uint8_t stm32dvfs_link_get(void)
{
  return (uint8_t)stm32dvfs_console_getc();
}

void stm32dvfs_link_flush(void)
{
  stm32dvfs_console_flush();
}
