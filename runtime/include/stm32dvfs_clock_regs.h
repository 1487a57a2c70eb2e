/**
 * @file stm32dvfs_clock_regs.h
 * @brief Register steps every STM32 clock driver of the runtime shares (F4/F7, H7, L4+).
 *
 * Each family's driver (runtime/src/stm32dvfs_clock_*.c) passes its own register addresses and
 * bit fields; the steps are the same: write a field, wait (bounded) for a status to read back.
 */
#ifndef STM32DVFS_CLOCK_REGS_H
#define STM32DVFS_CLOCK_REGS_H

#include <stdint.h>

#include "stm32dvfs_status.h"

/** Polls of a status bit before a clock step counts as failed. */
#define STM32DVFS_CLOCK_TIMEOUT 1000000u

/** Wait until ``(*reg & mask) == value``; STM32DVFS_ERROR_CLOCK after the timeout. */
static inline int stm32dvfs_wait_bits(volatile uint32_t* reg, uint32_t mask, uint32_t value)
{
  for (uint32_t i = 0; i < STM32DVFS_CLOCK_TIMEOUT; ++i) {
    if ((*reg & mask) == value) {
      return STM32DVFS_OK;
    }
  }
  return STM32DVFS_ERROR_CLOCK;
}

/** Write ``value`` into the field ``mask`` and wait until it reads back (FLASH_ACR.LATENCY: the
 *  reference manuals ask for the read-back before the clock may change). */
static inline int stm32dvfs_set_field(volatile uint32_t* reg, uint32_t mask, uint32_t value)
{
  *reg = (*reg & ~mask) | value;
  return stm32dvfs_wait_bits(reg, mask, value);
}

/** Select SYSCLK source ``sw`` in RCC_CFGR.SW and wait for RCC_CFGR.SWS to report it. */
static inline int stm32dvfs_select_sysclk(volatile uint32_t* cfgr, uint32_t sw_mask, uint32_t sws_shift, uint32_t sw)
{
  *cfgr = (*cfgr & ~sw_mask) | sw;
  return stm32dvfs_wait_bits(cfgr, sw_mask << sws_shift, sw << sws_shift);
}

/** Switch an oscillator on (its ON bit in RCC_CR) and wait for its ready bit. */
static inline int stm32dvfs_oscillator_on(volatile uint32_t* cr, uint32_t on, uint32_t ready)
{
  *cr |= on;
  return stm32dvfs_wait_bits(cr, ready, ready);
}

/** The 4-bit AHB/CPU prescaler field of a divider (HPRE, D1CPRE: 0 = /1, 8 = /2 ... 15 = /512). */
static inline uint32_t stm32dvfs_prescaler_bits(uint32_t divider)
{
  switch (divider) {
    case 2: return 8u;
    case 4: return 9u;
    case 8: return 10u;
    case 16: return 11u;
    case 64: return 12u;
    case 128: return 13u;
    case 256: return 14u;
    case 512: return 15u;
    default: return 0u;
  }
}

#endif /* STM32DVFS_CLOCK_REGS_H */
