/**
 * @file stm32dvfs_clock_family.h
 * @brief What a family's clock driver gives the switch sequence of stm32dvfs_clock.c.
 *
 * stm32dvfs_clock_apply() (runtime/src/stm32dvfs_clock.c) owns a switch, the same on every
 * family: flash wait states up first; off the PLL (to HSI) when the PLL or the voltage must
 * change; PLL off; voltage; oscillator and PLL of the target, locked before it is selected; SYSCLK
 * and the prescaler, the larger divider first; wait states down last. Each family's driver
 * (runtime/src/stm32dvfs_clock_f4f7.c, _h7.c, _l4.c) describes its registers in
 * ``stm32dvfs_family`` and implements the steps that differ between families below. Steps that
 * wait are bounded and return STM32DVFS_OK or STM32DVFS_ERROR_CLOCK. Board builds only.
 */
#ifndef STM32DVFS_CLOCK_FAMILY_H
#define STM32DVFS_CLOCK_FAMILY_H

#include <stdint.h>

#include "stm32dvfs_plan.h"

/** The registers and bits of the steps every family takes alike. */
typedef struct {
  volatile uint32_t* rcc_cr;    /**< RCC_CR: oscillator and PLL on/ready bits */
  volatile uint32_t* rcc_cfgr;  /**< RCC_CFGR: SW and SWS */
  volatile uint32_t* flash_acr; /**< FLASH_ACR: LATENCY in bits [3:0] */
  uint32_t hsi_on, hsi_ready;   /**< RCC_CR.HSION, HSIRDY (HSE and PLL bits sit alike on every family) */
  uint32_t sw_mask, sws_shift;  /**< RCC_CFGR.SW, and where SWS starts */
  uint8_t sw[4];               /**< RCC_CFGR.SW of each stm32dvfs_clock_source */
  uint8_t hsi_wait_states;     /**< wait states SYSCLK = HSI needs at any voltage (L4+: 1 in Range 2) */
  /** MSI on at ``hz`` (its range) and ready; NULL on families without MSI. */
  int (*msi_on)(uint32_t hz);
} stm32dvfs_clock_family;

extern const stm32dvfs_clock_family stm32dvfs_family;

/** First switch: the state the chip leaves reset in, with the voltage scale, over-drive and wait
 *  states read from the registers; peripheral clocks and bus prescalers the driver relies on. */
void stm32dvfs_family_power_up(stm32dvfs_clock_state* current);

/** Voltage scale and over-drive (boost) of ``target``, with the PLL off and SYSCLK on HSI. */
int stm32dvfs_family_set_voltage(const stm32dvfs_clock_state* current, const stm32dvfs_clock_state* target);

/** The PLL registers for ``target`` (the PLL is off); stm32dvfs_clock.c switches it on and waits. */
void stm32dvfs_family_configure_pll(const stm32dvfs_clock_state* target);

/** The AHB (F4/F7, L4) or CPU (H7) prescaler. */
void stm32dvfs_family_set_prescaler(uint32_t divider);

#endif /* STM32DVFS_CLOCK_FAMILY_H */
