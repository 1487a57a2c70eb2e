/*
 * Clock driver of the STM32L4 / L4+ family (RM0432, STM32L4R5): the steps of a switch
 * (stm32dvfs_clock_family.h) on its registers; stm32dvfs_clock.c runs them in the safe order.
 * Voltage ranges: Range 2 (VOS = 2), Range 1 (VOS = 1) and Range 1 boost (PWR_CR5.R1MODE = 0, the
 * "over-drive" flag of the plan): the range changes with SYSCLK on HSI16 (waiting for
 * PWR_SR2.VOSF), boost is entered from Range 1; MSI ranges change only while MSI is not SYSCLK;
 * every wait bounded.
 */
#include "stm32dvfs_plan.h"
#include "stm32dvfs_status.h"

#if defined(STM32DVFS_PLATFORM_BOARD) && defined(STM32DVFS_FAMILY_L4)

#include <stdint.h>

#include "stm32dvfs_clock_family.h"
#include "stm32dvfs_clock_regs.h"

#define REG(address) (*(volatile uint32_t*)(address))

#define RCC_CR REG(0x40021000u)
#define RCC_CFGR REG(0x40021008u)
#define RCC_PLLCFGR REG(0x4002100Cu)
#define RCC_APB1ENR1 REG(0x40021058u)
#define PWR_CR1 REG(0x40007000u)
#define PWR_SR2 REG(0x40007014u)
#define PWR_CR5 REG(0x40007080u)
#define FLASH_ACR REG(0x40022000u)

#define RCC_CR_MSION (1u << 0)
#define RCC_CR_MSIRDY (1u << 1)
#define RCC_CR_MSIRGSEL (1u << 3)
#define RCC_CR_MSIRANGE_MASK (0xFu << 4)
#define RCC_CR_HSION (1u << 8)
#define RCC_CR_HSIRDY (1u << 10)
#define RCC_CFGR_HPRE_SHIFT 4u
#define RCC_CFGR_HPRE_MASK (0xFu << RCC_CFGR_HPRE_SHIFT)
#define RCC_PLLCFGR_PLLREN (1u << 24)
#define RCC_APB1ENR1_PWREN (1u << 28)
#define PWR_CR1_VOS_SHIFT 9u
#define PWR_CR1_VOS_MASK (3u << PWR_CR1_VOS_SHIFT)
#define PWR_SR2_VOSF (1u << 10)
#define PWR_CR5_R1MODE (1u << 8)
#define FLASH_ACR_LATENCY_MASK 0xFu

/* RCC_CR.MSIRANGE of an MSI frequency (RM0432 section 6.4.1): 1 MHz = 4 ... 48 MHz = 11 */
static uint32_t msi_range(uint32_t hz)
{
  static const uint32_t ranges[] = {1000000u, 2000000u, 4000000u, 8000000u, 16000000u, 24000000u, 32000000u,
                                    48000000u};
  for (uint32_t i = 0; i < sizeof ranges / sizeof ranges[0]; ++i) {
    if (ranges[i] == hz) {
      return 4u + i;
    }
  }
  return 6u; /* 4 MHz, the reset range */
}

static int msi_on(uint32_t hz)
{
  RCC_CR = (RCC_CR & ~RCC_CR_MSIRANGE_MASK) | (msi_range(hz) << 4) | RCC_CR_MSIRGSEL | RCC_CR_MSION;
  return stm32dvfs_wait_bits(&RCC_CR, RCC_CR_MSIRDY, RCC_CR_MSIRDY);
}

const stm32dvfs_clock_family stm32dvfs_family = {
    .rcc_cr = &RCC_CR, .rcc_cfgr = &RCC_CFGR, .flash_acr = &FLASH_ACR,
    .hsi_on = RCC_CR_HSION, .hsi_ready = RCC_CR_HSIRDY, .sw_mask = 0x3u, .sws_shift = 2u,
    .sw = {[STM32DVFS_CLOCK_MSI] = 0u, [STM32DVFS_CLOCK_HSI] = 1u, [STM32DVFS_CLOCK_HSE] = 2u, [STM32DVFS_CLOCK_PLL] = 3u},
    .hsi_wait_states = 1u, /* HSI16 in Range 2 needs one wait state (RM0432 Table 12) */
    .msi_on = msi_on,
};

void stm32dvfs_family_power_up(stm32dvfs_clock_state* current)
{
  /* the state the chip leaves reset in: MSI 4 MHz, Range 1; the range, boost and wait states as read */
  const stm32dvfs_clock_state reset = {4000000u, STM32DVFS_CLOCK_MSI, 0, 0, 0, 0, 1, 1, 0, 0, 4000000u};
  *current = reset;
  RCC_APB1ENR1 |= RCC_APB1ENR1_PWREN;
  current->voltage_scale = (uint8_t)((PWR_CR1 & PWR_CR1_VOS_MASK) >> PWR_CR1_VOS_SHIFT);
  current->overdrive = (uint8_t)((PWR_CR5 & PWR_CR5_R1MODE) == 0u);
  current->flash_wait_states = (uint8_t)(FLASH_ACR & FLASH_ACR_LATENCY_MASK);
}

/* Boost (PWR_CR5.R1MODE = 0) is entered from Range 1 and left while in Range 1; each range change
 * waits for PWR_SR2.VOSF (RM0432 section 5.1.8). */
int stm32dvfs_family_set_voltage(const stm32dvfs_clock_state* current, const stm32dvfs_clock_state* target)
{
  int status;
  if (current->overdrive && !target->overdrive) {
    PWR_CR5 |= PWR_CR5_R1MODE;
  }
  PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | ((uint32_t)target->voltage_scale << PWR_CR1_VOS_SHIFT);
  if ((status = stm32dvfs_wait_bits(&PWR_SR2, PWR_SR2_VOSF, 0u)) != STM32DVFS_OK) {
    return status;
  }
  if (target->overdrive && !current->overdrive) {
    PWR_CR5 &= ~PWR_CR5_R1MODE;
    return stm32dvfs_wait_bits(&PWR_SR2, PWR_SR2_VOSF, 0u);
  }
  return STM32DVFS_OK;
}

void stm32dvfs_family_configure_pll(const stm32dvfs_clock_state* target)
{
  const uint32_t src = target->pll_source == STM32DVFS_CLOCK_MSI ? 1u
                       : (target->pll_source == STM32DVFS_CLOCK_HSE ? 3u : 2u);
  RCC_PLLCFGR = src | (((uint32_t)target->pll_m - 1u) << 4) | ((uint32_t)target->pll_n << 8) |
                (((uint32_t)target->pll_p / 2u - 1u) << 25) | RCC_PLLCFGR_PLLREN;
}

void stm32dvfs_family_set_prescaler(uint32_t divider)
{
  RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_HPRE_MASK) | (stm32dvfs_prescaler_bits(divider) << RCC_CFGR_HPRE_SHIFT);
}

#else
typedef int stm32dvfs_clock_l4_unused;
#endif
