/*
 * Clock driver of the STM32H7 family (RM0433, STM32H743/753 revision V): stm32dvfs_clock_apply()
 * for board builds. The plan's frequency is the CPU clock (D1CPRE = its prescaler); the AXI/AHB
 * clock is half of it (HPRE = 2) and the APB clocks a quarter, in range at every frequency.
 * Same safe order as the F4/F7 driver: wait states up first and down last; PLL1 reconfigured and
 * VOS changed with SYSCLK on HSI and PLL1 off; VOS0 (over-drive, SYSCFG_PWRCR.ODEN) entered from
 * VOS1 and left to VOS1; PLL1 locked before it is selected; every wait bounded.
 */
#include "stm32dvfs_plan.h"
#include "stm32dvfs_status.h"

#if defined(STM32DVFS_PLATFORM_BOARD) && defined(STM32DVFS_FAMILY_H7)

#include <stdint.h>

#include "stm32dvfs_clock_regs.h"

#define REG(address) (*(volatile uint32_t*)(address))

#define RCC_CR REG(0x58024400u)
#define RCC_CFGR REG(0x58024410u)
#define RCC_D1CFGR REG(0x58024418u)
#define RCC_D2CFGR REG(0x5802441Cu)
#define RCC_D3CFGR REG(0x58024420u)
#define RCC_PLLCKSELR REG(0x58024428u)
#define RCC_PLLCFGR REG(0x5802442Cu)
#define RCC_PLL1DIVR REG(0x58024430u)
#define RCC_APB4ENR REG(0x580244F4u)
#define PWR_D3CR REG(0x58024818u)
#define SYSCFG_PWRCR REG(0x5800042Cu)
#define FLASH_ACR REG(0x52002000u)

#define RCC_CR_HSION (1u << 0)
#define RCC_CR_HSIRDY (1u << 2)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLL1ON (1u << 24)
#define RCC_CR_PLL1RDY (1u << 25)
#define RCC_CFGR_SW_MASK 0x7u
#define RCC_CFGR_SWS_SHIFT 3u
#define RCC_D1CFGR_HPRE_DIV2 8u
#define RCC_D1CFGR_D1PPRE_DIV2 (4u << 4)
#define RCC_D1CFGR_D1CPRE_SHIFT 8u
#define RCC_APB4ENR_SYSCFGEN (1u << 1)
#define PWR_D3CR_VOS_SHIFT 14u
#define PWR_D3CR_VOS_MASK (3u << PWR_D3CR_VOS_SHIFT)
#define PWR_D3CR_VOSRDY (1u << 13)
#define SYSCFG_PWRCR_ODEN 1u
#define FLASH_ACR_LATENCY_MASK 0xFu

#define SW_HSI 0u
#define SW_HSE 2u
#define SW_PLL1 3u
#define VOS1 3u

static stm32dvfs_clock_state current = {64000000u, STM32DVFS_CLOCK_HSI, 0, 0, 0, 0, 1, 0, 0, 0, 64000000u};
static int powered = 0;

static int set_wait_states(uint32_t ws)
{
  return stm32dvfs_set_field(&FLASH_ACR, FLASH_ACR_LATENCY_MASK, ws);
}

static int select_sysclk(uint32_t sw)
{
  return stm32dvfs_select_sysclk(&RCC_CFGR, RCC_CFGR_SW_MASK, RCC_CFGR_SWS_SHIFT, sw);
}

static void set_cpu_prescaler(uint32_t divider)
{
  RCC_D1CFGR = (stm32dvfs_prescaler_bits(divider) << RCC_D1CFGR_D1CPRE_SHIFT) | RCC_D1CFGR_D1PPRE_DIV2 | RCC_D1CFGR_HPRE_DIV2;
}

static int set_vos(uint32_t vos)
{
  PWR_D3CR = (PWR_D3CR & ~PWR_D3CR_VOS_MASK) | (vos << PWR_D3CR_VOS_SHIFT);
  return stm32dvfs_wait_bits(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY);
}

static int oscillator_on(uint8_t source)
{
  const uint32_t on = source == STM32DVFS_CLOCK_HSE ? RCC_CR_HSEON : RCC_CR_HSION;
  const uint32_t ready = source == STM32DVFS_CLOCK_HSE ? RCC_CR_HSERDY : RCC_CR_HSIRDY;
  return stm32dvfs_oscillator_on(&RCC_CR, on, ready);
}

static uint32_t input_range(uint32_t ref_hz)
{
  return ref_hz < 2000000u ? 0u : (ref_hz < 4000000u ? 1u : (ref_hz < 8000000u ? 2u : 3u));
}

int stm32dvfs_clock_apply(const stm32dvfs_clock_state* target)
{
  int status;
  if (!powered) {
    RCC_APB4ENR |= RCC_APB4ENR_SYSCFGEN;
    set_cpu_prescaler(current.ahb_prescaler);
    RCC_D2CFGR = (4u << 4) | (4u << 8); /* APB1, APB2 = AHB / 2 */
    RCC_D3CFGR = (4u << 4);             /* APB4 = AHB / 2 */
    current.voltage_scale = (uint8_t)((PWR_D3CR & PWR_D3CR_VOS_MASK) >> PWR_D3CR_VOS_SHIFT);
    current.overdrive = (uint8_t)(SYSCFG_PWRCR & SYSCFG_PWRCR_ODEN);
    current.flash_wait_states = (uint8_t)(FLASH_ACR & FLASH_ACR_LATENCY_MASK);
    powered = 1;
  }
  const int relock = target->source == STM32DVFS_CLOCK_PLL &&
                     (current.source != STM32DVFS_CLOCK_PLL || current.pll_source != target->pll_source ||
                      current.pll_m != target->pll_m || current.pll_n != target->pll_n ||
                      current.pll_p != target->pll_p);
  const int rescale = target->voltage_scale != current.voltage_scale || target->overdrive != current.overdrive;
  if (target->flash_wait_states > current.flash_wait_states &&
      (status = set_wait_states(target->flash_wait_states)) != STM32DVFS_OK) {
    return status;
  }
  if ((relock || rescale) && current.source == STM32DVFS_CLOCK_PLL) {
    if ((status = oscillator_on(STM32DVFS_CLOCK_HSI)) != STM32DVFS_OK ||
        (status = select_sysclk(SW_HSI)) != STM32DVFS_OK) {
      return status;
    }
    current.source = STM32DVFS_CLOCK_HSI;
  }
  if ((relock || rescale) && (RCC_CR & RCC_CR_PLL1ON) != 0u) {
    RCC_CR &= ~RCC_CR_PLL1ON;
    if ((status = stm32dvfs_wait_bits(&RCC_CR, RCC_CR_PLL1RDY, 0u)) != STM32DVFS_OK) {
      return status;
    }
  }
  if (rescale) {
    if (current.overdrive) { /* VOS0 is left to VOS1 */
      SYSCFG_PWRCR &= ~SYSCFG_PWRCR_ODEN;
      if ((status = stm32dvfs_wait_bits(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY)) != STM32DVFS_OK) {
        return status;
      }
    }
    if ((status = set_vos(target->overdrive ? VOS1 : target->voltage_scale)) != STM32DVFS_OK) {
      return status;
    }
    if (target->overdrive) { /* VOS0 is entered from VOS1 */
      SYSCFG_PWRCR |= SYSCFG_PWRCR_ODEN;
      if ((status = stm32dvfs_wait_bits(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY)) != STM32DVFS_OK) {
        return status;
      }
    }
    current.voltage_scale = target->voltage_scale;
    current.overdrive = target->overdrive;
  }
  const uint8_t oscillator = target->source == STM32DVFS_CLOCK_PLL ? target->pll_source : target->source;
  if ((status = oscillator_on(oscillator)) != STM32DVFS_OK) {
    return status;
  }
  if (target->source == STM32DVFS_CLOCK_PLL && (RCC_CR & RCC_CR_PLL1ON) == 0u) {
    RCC_PLLCKSELR = (target->pll_source == STM32DVFS_CLOCK_HSE ? 2u : 0u) | ((uint32_t)target->pll_m << 4);
    RCC_PLLCFGR = (input_range(target->oscillator_hz / target->pll_m) << 2) | (1u << 16); /* wide VCO, DIVP1EN */
    RCC_PLL1DIVR = ((uint32_t)target->pll_n - 1u) | (((uint32_t)target->pll_p - 1u) << 9) | (1u << 16) | (1u << 24);
    RCC_CR |= RCC_CR_PLL1ON;
    if ((status = stm32dvfs_wait_bits(&RCC_CR, RCC_CR_PLL1RDY, RCC_CR_PLL1RDY)) != STM32DVFS_OK) {
      return status;
    }
  }
  if (target->ahb_prescaler > current.ahb_prescaler) { /* the larger divider first */
    set_cpu_prescaler(target->ahb_prescaler);
  }
  if ((status = select_sysclk(target->source == STM32DVFS_CLOCK_PLL
                                  ? SW_PLL1
                                  : (target->source == STM32DVFS_CLOCK_HSE ? SW_HSE : SW_HSI))) != STM32DVFS_OK) {
    return status;
  }
  set_cpu_prescaler(target->ahb_prescaler);
  if (target->flash_wait_states < current.flash_wait_states &&
      (status = set_wait_states(target->flash_wait_states)) != STM32DVFS_OK) {
    return status;
  }
  current = *target;
  return STM32DVFS_OK;
}

#else
typedef int stm32dvfs_clock_h7_unused;
#endif
