/*
 * Clock driver of the STM32F4 and STM32F7 families: the steps of a switch
 * (stm32dvfs_clock_family.h) on their registers; stm32dvfs_clock.c runs them in the safe order.
 *
 * Register map from the reference manuals (RM0383 for the F411, RM0385/RM0410 for the F746/F767):
 * RCC_CR/PLLCFGR/CFGR, PWR_CR(1)/CSR(1), FLASH_ACR. Over-drive (F7) is enabled before a frequency
 * that needs it. Every wait is bounded: on a timeout a step returns STM32DVFS_ERROR_CLOCK.
 *
 * Compiled only with STM32DVFS_PLATFORM_BOARD and STM32DVFS_FAMILY_F4 or _F7; other builds use
 * the recorder in stm32dvfs_plan.c.
 */
#include "stm32dvfs_plan.h"
#include "stm32dvfs_status.h"

#if defined(STM32DVFS_PLATFORM_BOARD) && (defined(STM32DVFS_FAMILY_F4) || defined(STM32DVFS_FAMILY_F7))

#include <stdint.h>

#include "stm32dvfs_clock_family.h"
#include "stm32dvfs_clock_regs.h"

#define REG(address) (*(volatile uint32_t*)(address))

#define RCC_CR REG(0x40023800u)
#define RCC_PLLCFGR REG(0x40023804u)
#define RCC_CFGR REG(0x40023808u)
#define RCC_APB1ENR REG(0x40023840u)
#define PWR_CR1 REG(0x40007000u)
#define PWR_CSR1 REG(0x40007004u)
#define FLASH_ACR REG(0x40023C00u)

#define RCC_CR_HSION (1u << 0)
#define RCC_CR_HSIRDY (1u << 1)
#define RCC_PLLCFGR_KEEP (0xFu << 24) /* PLLQ: left as it is */
#define RCC_PLLCFGR_SRC_HSE (1u << 22)
#define RCC_CFGR_HPRE_SHIFT 4u
#define RCC_CFGR_HPRE_MASK (0xFu << RCC_CFGR_HPRE_SHIFT)
#define RCC_CFGR_PPRE_MASK (0x3Fu << 10)
#define RCC_CFGR_PPRE_SAFE ((5u << 10) | (4u << 13)) /* APB1 = HCLK/4, APB2 = HCLK/2: in range up to 216 MHz */
#define RCC_APB1ENR_PWREN (1u << 28)
#define PWR_CR1_VOS_SHIFT 14u
#define PWR_CR1_VOS_MASK (3u << PWR_CR1_VOS_SHIFT)
#define PWR_CR1_ODEN (1u << 16)
#define PWR_CR1_ODSWEN (1u << 17)
#define PWR_CSR1_ODRDY (1u << 16)
#define PWR_CSR1_ODSWRDY (1u << 17)
#define FLASH_ACR_LATENCY_MASK 0xFu

const stm32dvfs_clock_family stm32dvfs_family = {
    .rcc_cr = &RCC_CR, .rcc_cfgr = &RCC_CFGR, .flash_acr = &FLASH_ACR,
    .hsi_on = RCC_CR_HSION, .hsi_ready = RCC_CR_HSIRDY, .sw_mask = 0x3u, .sws_shift = 2u,
    .sw = {[STM32DVFS_CLOCK_HSI] = 0u, [STM32DVFS_CLOCK_HSE] = 1u, [STM32DVFS_CLOCK_PLL] = 2u},
};

void stm32dvfs_family_power_up(stm32dvfs_clock_state* current)
{
  /* the state the chip leaves reset in: HSI 16 MHz, AHB /1; the scale and wait states as read */
  const stm32dvfs_clock_state reset = {16000000u, STM32DVFS_CLOCK_HSI, 0, 0, 0, 0, 1, 0, 0, 0, 16000000u};
  *current = reset;
  RCC_APB1ENR |= RCC_APB1ENR_PWREN;
  RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_PPRE_MASK) | RCC_CFGR_PPRE_SAFE;
  current->voltage_scale = (uint8_t)((PWR_CR1 & PWR_CR1_VOS_MASK) >> PWR_CR1_VOS_SHIFT);
  current->flash_wait_states = (uint8_t)(FLASH_ACR & FLASH_ACR_LATENCY_MASK);
}

/* Over-drive (F7, RM0385 section 4.1.4): off before the scale changes; on after it, enabled and
 * then switched, each confirmed in PWR_CSR1. The F4 has neither over-drive nor its bits. */
int stm32dvfs_family_set_voltage(const stm32dvfs_clock_state* current, const stm32dvfs_clock_state* target)
{
#if defined(STM32DVFS_FAMILY_F7)
  int status;
  if (current->overdrive && !target->overdrive) {
    PWR_CR1 &= ~(PWR_CR1_ODSWEN | PWR_CR1_ODEN);
  }
#endif
  PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | ((uint32_t)target->voltage_scale << PWR_CR1_VOS_SHIFT);
#if defined(STM32DVFS_FAMILY_F7)
  if (target->overdrive && !current->overdrive) {
    PWR_CR1 |= PWR_CR1_ODEN;
    if ((status = stm32dvfs_wait_bits(&PWR_CSR1, PWR_CSR1_ODRDY, PWR_CSR1_ODRDY)) != STM32DVFS_OK) {
      return status;
    }
    PWR_CR1 |= PWR_CR1_ODSWEN;
    return stm32dvfs_wait_bits(&PWR_CSR1, PWR_CSR1_ODSWRDY, PWR_CSR1_ODSWRDY);
  }
#else
  (void)current;
#endif
  return STM32DVFS_OK;
}

void stm32dvfs_family_configure_pll(const stm32dvfs_clock_state* target)
{
  RCC_PLLCFGR = (RCC_PLLCFGR & RCC_PLLCFGR_KEEP) | (uint32_t)target->pll_m | ((uint32_t)target->pll_n << 6) |
                ((uint32_t)(target->pll_p / 2u - 1u) << 16) |
                (target->pll_source == STM32DVFS_CLOCK_HSE ? RCC_PLLCFGR_SRC_HSE : 0u);
}

void stm32dvfs_family_set_prescaler(uint32_t divider)
{
  RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_HPRE_MASK) | (stm32dvfs_prescaler_bits(divider) << RCC_CFGR_HPRE_SHIFT);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int stm32dvfs_clock_f4f7_unused;
#endif
