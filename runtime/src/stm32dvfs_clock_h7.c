/*
 * Clock driver of the STM32H7 family (RM0433, STM32H743/753 revision V): the steps of a switch
 * (stm32dvfs_clock_family.h) on its registers; stm32dvfs_clock.c runs them in the safe order.
 * The plan's frequency is the CPU clock (D1CPRE = its prescaler); the AXI/AHB clock is half of it
 * (HPRE = 2) and the APB clocks a quarter, in range at every frequency.
 * VOS0 (over-drive, SYSCFG_PWRCR.ODEN) is entered from VOS1 and left to VOS1; every wait bounded.
 */
#include "stm32dvfs_plan.h"
#include "stm32dvfs_status.h"

#if defined(STM32DVFS_PLATFORM_BOARD) && defined(STM32DVFS_FAMILY_H7)

#include <stdint.h>

#include "stm32dvfs_clock_family.h"
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
#define RCC_D1CFGR_HPRE_DIV2 8u
#define RCC_D1CFGR_D1PPRE_DIV2 (4u << 4)
#define RCC_D1CFGR_D1CPRE_SHIFT 8u
#define RCC_APB4ENR_SYSCFGEN (1u << 1)
#define PWR_D3CR_VOS_SHIFT 14u
#define PWR_D3CR_VOS_MASK (3u << PWR_D3CR_VOS_SHIFT)
#define PWR_D3CR_VOSRDY (1u << 13)
#define SYSCFG_PWRCR_ODEN 1u
#define FLASH_ACR_LATENCY_MASK 0xFu

#define VOS1 3u

const stm32dvfs_clock_family stm32dvfs_family = {
    .rcc_cr = &RCC_CR, .rcc_cfgr = &RCC_CFGR, .flash_acr = &FLASH_ACR,
    .hsi_on = RCC_CR_HSION, .hsi_ready = RCC_CR_HSIRDY, .sw_mask = 0x7u, .sws_shift = 3u,
    .sw = {[STM32DVFS_CLOCK_HSI] = 0u, [STM32DVFS_CLOCK_HSE] = 2u, [STM32DVFS_CLOCK_PLL] = 3u},
};

void stm32dvfs_family_set_prescaler(uint32_t divider)
{
  RCC_D1CFGR = (stm32dvfs_prescaler_bits(divider) << RCC_D1CFGR_D1CPRE_SHIFT) | RCC_D1CFGR_D1PPRE_DIV2 | RCC_D1CFGR_HPRE_DIV2;
}

void stm32dvfs_family_power_up(stm32dvfs_clock_state* current)
{
  /* the state the chip leaves reset in: HSI 64 MHz, CPU /1; the scale, VOS0 and wait states as read */
  const stm32dvfs_clock_state reset = {64000000u, STM32DVFS_CLOCK_HSI, 0, 0, 0, 0, 1, 0, 0, 0, 64000000u};
  *current = reset;
  RCC_APB4ENR |= RCC_APB4ENR_SYSCFGEN;
  stm32dvfs_family_set_prescaler(current->ahb_prescaler);
  RCC_D2CFGR = (4u << 4) | (4u << 8); /* APB1, APB2 = AHB / 2 */
  RCC_D3CFGR = (4u << 4);             /* APB4 = AHB / 2 */
  current->voltage_scale = (uint8_t)((PWR_D3CR & PWR_D3CR_VOS_MASK) >> PWR_D3CR_VOS_SHIFT);
  current->overdrive = (uint8_t)(SYSCFG_PWRCR & SYSCFG_PWRCR_ODEN);
  current->flash_wait_states = (uint8_t)(FLASH_ACR & FLASH_ACR_LATENCY_MASK);
}

static int set_vos(uint32_t vos)
{
  PWR_D3CR = (PWR_D3CR & ~PWR_D3CR_VOS_MASK) | (vos << PWR_D3CR_VOS_SHIFT);
  return stm32dvfs_wait_bits(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY);
}

/* VOS0 (over-drive, SYSCFG_PWRCR.ODEN) is entered from VOS1 and left to VOS1 (RM0433 section 6.8.6). */
int stm32dvfs_family_set_voltage(const stm32dvfs_clock_state* current, const stm32dvfs_clock_state* target)
{
  int status;
  if (current->overdrive) {
    SYSCFG_PWRCR &= ~SYSCFG_PWRCR_ODEN;
    if ((status = stm32dvfs_wait_bits(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY)) != STM32DVFS_OK) {
      return status;
    }
  }
  if ((status = set_vos(target->overdrive ? VOS1 : target->voltage_scale)) != STM32DVFS_OK) {
    return status;
  }
  if (target->overdrive) {
    SYSCFG_PWRCR |= SYSCFG_PWRCR_ODEN;
    return stm32dvfs_wait_bits(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY);
  }
  return STM32DVFS_OK;
}

/* PLL1 input range (RCC_PLLCFGR.PLL1RGE) of its reference frequency. */
static uint32_t input_range(uint32_t ref_hz)
{
  return ref_hz < 2000000u ? 0u : (ref_hz < 4000000u ? 1u : (ref_hz < 8000000u ? 2u : 3u));
}

void stm32dvfs_family_configure_pll(const stm32dvfs_clock_state* target)
{
  RCC_PLLCKSELR = (target->pll_source == STM32DVFS_CLOCK_HSE ? 2u : 0u) | ((uint32_t)target->pll_m << 4);
  RCC_PLLCFGR = (input_range(target->oscillator_hz / target->pll_m) << 2) | (1u << 16); /* wide VCO, DIVP1EN */
  RCC_PLL1DIVR = ((uint32_t)target->pll_n - 1u) | (((uint32_t)target->pll_p - 1u) << 9) | (1u << 16) | (1u << 24);
}

#else
typedef int stm32dvfs_clock_h7_unused;
#endif
