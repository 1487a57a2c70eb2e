/*
 * Clock driver of the STM32F4 and STM32F7 families: stm32dvfs_clock_apply() for board builds.
 *
 * Register map and sequences from the reference manuals (RM0383 for the F411, RM0385/RM0410 for
 * the F746/F767): RCC_CR/PLLCFGR/CFGR, PWR_CR(1)/CSR(1), FLASH_ACR. A switch always runs in the
 * safe order: flash wait states up before the clock speeds up, down after it slows down; the
 * PLL is reconfigured and the voltage scale changed only while SYSCLK runs from HSI with the PLL
 * off; over-drive is enabled before a frequency that needs it; the PLL is locked before it is
 * selected. Every wait is bounded: on a timeout the driver returns STM32DVFS_ERROR_CLOCK and the
 * clock stays on the last safe configuration (HSI at the wait states of the faster state).
 *
 * Compiled only with STM32DVFS_PLATFORM_BOARD and STM32DVFS_FAMILY_F4 or _F7; other builds use
 * the recorder in stm32dvfs_plan.c.
 */
#include "stm32dvfs_plan.h"
#include "stm32dvfs_status.h"

#if defined(STM32DVFS_PLATFORM_BOARD) && (defined(STM32DVFS_FAMILY_F4) || defined(STM32DVFS_FAMILY_F7))

#include <stdint.h>

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
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_PLLCFGR_KEEP (0xFu << 24) /* PLLQ: left as it is */
#define RCC_PLLCFGR_SRC_HSE (1u << 22)
#define RCC_CFGR_SW_MASK 0x3u
#define RCC_CFGR_SWS_SHIFT 2u
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

#define SW_HSI 0u
#define SW_HSE 1u
#define SW_PLL 2u

/* The state the chip leaves reset in: HSI 16 MHz, AHB /1 (scale and wait states read on first use). */
static stm32dvfs_clock_state current = {16000000u, STM32DVFS_CLOCK_HSI, 0, 0, 0, 0, 1, 0, 0, 0, 16000000u};
static int powered = 0;

static int set_wait_states(uint32_t ws)
{
  return stm32dvfs_set_field(&FLASH_ACR, FLASH_ACR_LATENCY_MASK, ws);
}

static int select_sysclk(uint32_t sw)
{
  return stm32dvfs_select_sysclk(&RCC_CFGR, RCC_CFGR_SW_MASK, RCC_CFGR_SWS_SHIFT, sw);
}

static uint32_t sw_of(const stm32dvfs_clock_state* s)
{
  return s->source == STM32DVFS_CLOCK_PLL ? SW_PLL : (s->source == STM32DVFS_CLOCK_HSE ? SW_HSE : SW_HSI);
}

static int same_pll(const stm32dvfs_clock_state* a, const stm32dvfs_clock_state* b)
{
  return a->pll_source == b->pll_source && a->pll_m == b->pll_m && a->pll_n == b->pll_n && a->pll_p == b->pll_p;
}

static int oscillator_on(uint8_t source)
{
  const uint32_t on = source == STM32DVFS_CLOCK_HSE ? RCC_CR_HSEON : RCC_CR_HSION;
  const uint32_t ready = source == STM32DVFS_CLOCK_HSE ? RCC_CR_HSERDY : RCC_CR_HSIRDY;
  return stm32dvfs_oscillator_on(&RCC_CR, on, ready);
}

int stm32dvfs_clock_apply(const stm32dvfs_clock_state* target)
{
  int status;
  if (!powered) {
    /* first call: the chip is as reset (or a boot loader) left it; read what matters */
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_PPRE_MASK) | RCC_CFGR_PPRE_SAFE;
    current.voltage_scale = (uint8_t)((PWR_CR1 & PWR_CR1_VOS_MASK) >> PWR_CR1_VOS_SHIFT);
    current.flash_wait_states = (uint8_t)(FLASH_ACR & FLASH_ACR_LATENCY_MASK);
    powered = 1;
  }
  const int relock = target->source == STM32DVFS_CLOCK_PLL &&
                     (current.source != STM32DVFS_CLOCK_PLL || !same_pll(&current, target));
  const int rescale = target->voltage_scale != current.voltage_scale || target->overdrive != current.overdrive;
  /* 1. wait states up first */
  if (target->flash_wait_states > current.flash_wait_states &&
      (status = set_wait_states(target->flash_wait_states)) != STM32DVFS_OK) {
    return status;
  }
  /* 2. off the PLL (to HSI) when it must change or the scale must */
  if ((relock || rescale) && current.source == STM32DVFS_CLOCK_PLL) {
    if ((status = oscillator_on(STM32DVFS_CLOCK_HSI)) != STM32DVFS_OK ||
        (status = select_sysclk(SW_HSI)) != STM32DVFS_OK) {
      return status;
    }
    current.source = STM32DVFS_CLOCK_HSI;
  }
  if ((relock || rescale) && (RCC_CR & RCC_CR_PLLON) != 0u) {
    RCC_CR &= ~RCC_CR_PLLON;
    if ((status = stm32dvfs_wait_bits(&RCC_CR, RCC_CR_PLLRDY, 0u)) != STM32DVFS_OK) {
      return status;
    }
  }
  /* 3. voltage: over-drive off, scale, over-drive on (F7) */
  if (rescale) {
#if defined(STM32DVFS_FAMILY_F7)
    if (current.overdrive && !target->overdrive) {
      PWR_CR1 &= ~(PWR_CR1_ODSWEN | PWR_CR1_ODEN);
    }
#endif
    PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | ((uint32_t)target->voltage_scale << PWR_CR1_VOS_SHIFT);
#if defined(STM32DVFS_FAMILY_F7)
    if (target->overdrive && !current.overdrive) {
      PWR_CR1 |= PWR_CR1_ODEN;
      if ((status = stm32dvfs_wait_bits(&PWR_CSR1, PWR_CSR1_ODRDY, PWR_CSR1_ODRDY)) != STM32DVFS_OK) {
        return status;
      }
      PWR_CR1 |= PWR_CR1_ODSWEN;
      if ((status = stm32dvfs_wait_bits(&PWR_CSR1, PWR_CSR1_ODSWRDY, PWR_CSR1_ODSWRDY)) != STM32DVFS_OK) {
        return status;
      }
    }
#endif
    current.voltage_scale = target->voltage_scale;
    current.overdrive = target->overdrive;
  }
  /* 4. oscillator and PLL of the target */
  const uint8_t oscillator = target->source == STM32DVFS_CLOCK_PLL ? target->pll_source : target->source;
  if ((status = oscillator_on(oscillator)) != STM32DVFS_OK) {
    return status;
  }
  if (target->source == STM32DVFS_CLOCK_PLL && (RCC_CR & RCC_CR_PLLON) == 0u) {
    RCC_PLLCFGR = (RCC_PLLCFGR & RCC_PLLCFGR_KEEP) | (uint32_t)target->pll_m | ((uint32_t)target->pll_n << 6) |
                  ((uint32_t)(target->pll_p / 2u - 1u) << 16) |
                  (target->pll_source == STM32DVFS_CLOCK_HSE ? RCC_PLLCFGR_SRC_HSE : 0u);
    RCC_CR |= RCC_CR_PLLON;
    if ((status = stm32dvfs_wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) != STM32DVFS_OK) {
      return status;
    }
  }
  /* 5. SYSCLK and the AHB prescaler, the larger divider first: HCLK never passes through a
   *    frequency above both the old and the new one */
  const uint32_t hpre = stm32dvfs_prescaler_bits(target->ahb_prescaler) << RCC_CFGR_HPRE_SHIFT;
  if (target->ahb_prescaler > current.ahb_prescaler) {
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_HPRE_MASK) | hpre;
  }
  if ((status = select_sysclk(sw_of(target))) != STM32DVFS_OK) {
    return status;
  }
  RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_HPRE_MASK) | hpre;
  /* 6. wait states down last */
  if (target->flash_wait_states < current.flash_wait_states &&
      (status = set_wait_states(target->flash_wait_states)) != STM32DVFS_OK) {
    return status;
  }
  current = *target;
  return STM32DVFS_OK;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int stm32dvfs_clock_f4f7_unused;
#endif
