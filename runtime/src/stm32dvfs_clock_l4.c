/*
 * Clock driver of the STM32L4 / L4+ family (RM0432, STM32L4R5): stm32dvfs_clock_apply() for
 * board builds. Voltage ranges: Range 2 (VOS = 2), Range 1 (VOS = 1) and Range 1 boost
 * (PWR_CR5.R1MODE = 0, the "over-drive" flag of the plan). Same safe order as the F4/F7 driver:
 * wait states up first and down last; PLL reconfigured and the range changed with SYSCLK on
 * HSI16 and the PLL off (waiting for PWR_SR2.VOSF); boost entered from Range 1; the PLL locked
 * before it is selected; MSI ranges changed only while MSI is not SYSCLK; every wait bounded.
 */
#include "stm32dvfs_plan.h"
#include "stm32dvfs_status.h"

#if defined(STM32DVFS_PLATFORM_BOARD) && defined(STM32DVFS_FAMILY_L4)

#include <stdint.h>

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
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_CFGR_SW_MASK 0x3u
#define RCC_CFGR_SWS_SHIFT 2u
#define RCC_CFGR_HPRE_SHIFT 4u
#define RCC_CFGR_HPRE_MASK (0xFu << RCC_CFGR_HPRE_SHIFT)
#define RCC_PLLCFGR_PLLREN (1u << 24)
#define RCC_APB1ENR1_PWREN (1u << 28)
#define PWR_CR1_VOS_SHIFT 9u
#define PWR_CR1_VOS_MASK (3u << PWR_CR1_VOS_SHIFT)
#define PWR_SR2_VOSF (1u << 10)
#define PWR_CR5_R1MODE (1u << 8)
#define FLASH_ACR_LATENCY_MASK 0xFu

#define SW_MSI 0u
#define SW_HSI 1u
#define SW_HSE 2u
#define SW_PLL 3u

static stm32dvfs_clock_state current = {4000000u, STM32DVFS_CLOCK_MSI, 0, 0, 0, 0, 1, 1, 0, 0, 4000000u};
static int powered = 0;

static int set_wait_states(uint32_t ws)
{
  return stm32dvfs_set_field(&FLASH_ACR, FLASH_ACR_LATENCY_MASK, ws);
}

static int select_sysclk(uint32_t sw)
{
  return stm32dvfs_select_sysclk(&RCC_CFGR, RCC_CFGR_SW_MASK, RCC_CFGR_SWS_SHIFT, sw);
}

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

static int oscillator_on(const stm32dvfs_clock_state* s, uint8_t source)
{
  if (source == STM32DVFS_CLOCK_MSI) {
    RCC_CR = (RCC_CR & ~RCC_CR_MSIRANGE_MASK) | (msi_range(s->oscillator_hz) << 4) | RCC_CR_MSIRGSEL | RCC_CR_MSION;
    return stm32dvfs_wait_bits(&RCC_CR, RCC_CR_MSIRDY, RCC_CR_MSIRDY);
  }
  const uint32_t on = source == STM32DVFS_CLOCK_HSE ? RCC_CR_HSEON : RCC_CR_HSION;
  const uint32_t ready = source == STM32DVFS_CLOCK_HSE ? RCC_CR_HSERDY : RCC_CR_HSIRDY;
  return stm32dvfs_oscillator_on(&RCC_CR, on, ready);
}

static uint32_t sw_of(uint8_t source)
{
  switch (source) {
    case STM32DVFS_CLOCK_PLL: return SW_PLL;
    case STM32DVFS_CLOCK_HSE: return SW_HSE;
    case STM32DVFS_CLOCK_MSI: return SW_MSI;
    default: return SW_HSI;
  }
}

int stm32dvfs_clock_apply(const stm32dvfs_clock_state* target)
{
  int status;
  if (!powered) {
    RCC_APB1ENR1 |= RCC_APB1ENR1_PWREN;
    current.voltage_scale = (uint8_t)((PWR_CR1 & PWR_CR1_VOS_MASK) >> PWR_CR1_VOS_SHIFT);
    current.overdrive = (uint8_t)((PWR_CR5 & PWR_CR5_R1MODE) == 0u);
    current.flash_wait_states = (uint8_t)(FLASH_ACR & FLASH_ACR_LATENCY_MASK);
    powered = 1;
  }
  const int relock = target->source == STM32DVFS_CLOCK_PLL &&
                     (current.source != STM32DVFS_CLOCK_PLL || current.pll_source != target->pll_source ||
                      current.pll_m != target->pll_m || current.pll_n != target->pll_n ||
                      current.pll_p != target->pll_p || current.oscillator_hz != target->oscillator_hz);
  const int rescale = target->voltage_scale != current.voltage_scale || target->overdrive != current.overdrive;
  /* MSI feeds SYSCLK in both states at different ranges: its range changes off MSI */
  const int remsi = current.source == STM32DVFS_CLOCK_MSI && target->source == STM32DVFS_CLOCK_MSI &&
                    current.oscillator_hz != target->oscillator_hz;
  if (target->flash_wait_states > current.flash_wait_states &&
      (status = set_wait_states(target->flash_wait_states)) != STM32DVFS_OK) {
    return status;
  }
  if (((relock || rescale) && current.source == STM32DVFS_CLOCK_PLL) || remsi ||
      (rescale && current.source == STM32DVFS_CLOCK_MSI)) {
    /* HSI16 in Range 2 needs one wait state (RM0432 Table 12): have it before passing through */
    if ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) < 1u && (status = set_wait_states(1u)) != STM32DVFS_OK) {
      return status;
    }
    if ((status = oscillator_on(target, STM32DVFS_CLOCK_HSI)) != STM32DVFS_OK ||
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
  if (rescale) {
    if (current.overdrive && !target->overdrive) {
      PWR_CR5 |= PWR_CR5_R1MODE; /* leave boost while in Range 1 */
    }
    PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | ((uint32_t)target->voltage_scale << PWR_CR1_VOS_SHIFT);
    if ((status = stm32dvfs_wait_bits(&PWR_SR2, PWR_SR2_VOSF, 0u)) != STM32DVFS_OK) {
      return status;
    }
    if (target->overdrive && !current.overdrive) {
      PWR_CR5 &= ~PWR_CR5_R1MODE; /* boost, entered from Range 1 */
      if ((status = stm32dvfs_wait_bits(&PWR_SR2, PWR_SR2_VOSF, 0u)) != STM32DVFS_OK) {
        return status;
      }
    }
    current.voltage_scale = target->voltage_scale;
    current.overdrive = target->overdrive;
  }
  const uint8_t oscillator = target->source == STM32DVFS_CLOCK_PLL ? target->pll_source : target->source;
  if ((status = oscillator_on(target, oscillator)) != STM32DVFS_OK) {
    return status;
  }
  if (target->source == STM32DVFS_CLOCK_PLL && (RCC_CR & RCC_CR_PLLON) == 0u) {
    const uint32_t src = target->pll_source == STM32DVFS_CLOCK_MSI ? 1u
                         : (target->pll_source == STM32DVFS_CLOCK_HSE ? 3u : 2u);
    RCC_PLLCFGR = src | (((uint32_t)target->pll_m - 1u) << 4) | ((uint32_t)target->pll_n << 8) |
                  (((uint32_t)target->pll_p / 2u - 1u) << 25) | RCC_PLLCFGR_PLLREN;
    RCC_CR |= RCC_CR_PLLON;
    if ((status = stm32dvfs_wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) != STM32DVFS_OK) {
      return status;
    }
  }
  const uint32_t hpre = stm32dvfs_prescaler_bits(target->ahb_prescaler) << RCC_CFGR_HPRE_SHIFT;
  if (target->ahb_prescaler > current.ahb_prescaler) { /* the larger divider first */
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_HPRE_MASK) | hpre;
  }
  if ((status = select_sysclk(sw_of(target->source))) != STM32DVFS_OK) {
    return status;
  }
  RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_HPRE_MASK) | hpre;
  if (target->flash_wait_states < (FLASH_ACR & FLASH_ACR_LATENCY_MASK) &&
      (status = set_wait_states(target->flash_wait_states)) != STM32DVFS_OK) {
    return status;
  }
  current = *target;
  return STM32DVFS_OK;
}

#else
typedef int stm32dvfs_clock_l4_unused;
#endif
