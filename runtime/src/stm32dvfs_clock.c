/*
 * stm32dvfs_clock_apply() for board builds: a clock switch, in the same order on every STM32
 * family, on the registers the family's driver describes (stm32dvfs_clock_family.h). The order is
 * the one the reference manuals prescribe (RM0385 sections 3.3.2 and 5.1.4 for the F7, RM0433
 * section 6.8.6 for the H7, RM0432 section 5.1.8 for the L4+): the flash never runs with fewer
 * wait states than the clock needs; the PLL is reconfigured and the voltage changed only while
 * SYSCLK runs from HSI with the PLL off; the PLL is locked before it is selected; MSI changes
 * range only while it does not feed SYSCLK. On a failed step the clock stays on the last safe
 * configuration (HSI at the wait states of the faster state) and the status is returned.
 */
#include "stm32dvfs_plan.h"
#include "stm32dvfs_status.h"

#if defined(STM32DVFS_PLATFORM_BOARD)

#include "stm32dvfs_clock_family.h"
#include "stm32dvfs_clock_regs.h"

#define FLASH_ACR_LATENCY_MASK 0xFu
/* RCC_CR bits at the same place on the F4/F7 (RM0385 section 5.3.1), H7 (RM0433 section 8.7.2,
 * PLL1ON/PLL1RDY) and L4+ (RM0432 section 6.4.1) */
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)

static stm32dvfs_clock_state current;
static int powered = 0;

static int set_wait_states(uint32_t wait_states)
{
  const int status = stm32dvfs_set_field(stm32dvfs_family.flash_acr, FLASH_ACR_LATENCY_MASK, wait_states);
  if (status == STM32DVFS_OK) {
    current.flash_wait_states = (uint8_t)wait_states;
  }
  return status;
}

static int select_sysclk(uint8_t source)
{
  const stm32dvfs_clock_family* f = &stm32dvfs_family;
  return stm32dvfs_select_sysclk(f->rcc_cfgr, f->sw_mask, f->sws_shift, f->sw[source & 3u]);
}

static int oscillator_on(const stm32dvfs_clock_state* target, uint8_t source)
{
  const stm32dvfs_clock_family* f = &stm32dvfs_family;
  if (source == STM32DVFS_CLOCK_MSI) {
    return f->msi_on != 0 ? f->msi_on(target->oscillator_hz) : STM32DVFS_ERROR_CLOCK;
  }
  return source == STM32DVFS_CLOCK_HSE ? stm32dvfs_oscillator_on(f->rcc_cr, RCC_CR_HSEON, RCC_CR_HSERDY)
                                       : stm32dvfs_oscillator_on(f->rcc_cr, f->hsi_on, f->hsi_ready);
}

static int same_pll(const stm32dvfs_clock_state* a, const stm32dvfs_clock_state* b)
{
  return a->pll_source == b->pll_source && a->pll_m == b->pll_m && a->pll_n == b->pll_n && a->pll_p == b->pll_p &&
         a->oscillator_hz == b->oscillator_hz;
}

/* SYSCLK on HSI, the stop between two states. */
static int to_hsi(const stm32dvfs_clock_state* target)
{
  int status;
  if (current.flash_wait_states < stm32dvfs_family.hsi_wait_states &&
      (status = set_wait_states(stm32dvfs_family.hsi_wait_states)) != STM32DVFS_OK) {
    return status;
  }
  if ((status = oscillator_on(target, STM32DVFS_CLOCK_HSI)) != STM32DVFS_OK ||
      (status = select_sysclk(STM32DVFS_CLOCK_HSI)) != STM32DVFS_OK) {
    return status;
  }
  current.source = STM32DVFS_CLOCK_HSI;
  return STM32DVFS_OK;
}

static int pll_off(void)
{
  const stm32dvfs_clock_family* f = &stm32dvfs_family;
  if ((*f->rcc_cr & RCC_CR_PLLON) == 0u) {
    return STM32DVFS_OK;
  }
  *f->rcc_cr &= ~RCC_CR_PLLON;
  return stm32dvfs_wait_bits(f->rcc_cr, RCC_CR_PLLRDY, 0u);
}

static int pll_on(const stm32dvfs_clock_state* target)
{
  const stm32dvfs_clock_family* f = &stm32dvfs_family;
  if ((*f->rcc_cr & RCC_CR_PLLON) != 0u) {
    return STM32DVFS_OK;
  }
  stm32dvfs_family_configure_pll(target);
  *f->rcc_cr |= RCC_CR_PLLON;
  return stm32dvfs_wait_bits(f->rcc_cr, RCC_CR_PLLRDY, RCC_CR_PLLRDY);
}

int stm32dvfs_clock_apply(const stm32dvfs_clock_state* target)
{
  int status;
  if (!powered) {
    stm32dvfs_family_power_up(&current);
    powered = 1;
  }
  const int relock = target->source == STM32DVFS_CLOCK_PLL &&
                     (current.source != STM32DVFS_CLOCK_PLL || !same_pll(&current, target));
  const int rescale = target->voltage_scale != current.voltage_scale || target->overdrive != current.overdrive;
  /* MSI (L4+) feeds SYSCLK in both states at different ranges: its range changes off MSI */
  const int remsi = current.source == STM32DVFS_CLOCK_MSI && target->source == STM32DVFS_CLOCK_MSI &&
                    current.oscillator_hz != target->oscillator_hz;
  /* 1. wait states up first */
  if (target->flash_wait_states > current.flash_wait_states &&
      (status = set_wait_states(target->flash_wait_states)) != STM32DVFS_OK) {
    return status;
  }
  /* 2. SYSCLK to HSI when the PLL or the voltage must change under it; then the PLL off */
  if (((relock || rescale) && current.source == STM32DVFS_CLOCK_PLL) || (rescale && current.source == STM32DVFS_CLOCK_MSI) ||
      remsi) {
    if ((status = to_hsi(target)) != STM32DVFS_OK) {
      return status;
    }
  }
  if ((relock || rescale) && (status = pll_off()) != STM32DVFS_OK) {
    return status;
  }
  /* 3. voltage scale and over-drive */
  if (rescale) {
    if ((status = stm32dvfs_family_set_voltage(&current, target)) != STM32DVFS_OK) {
      return status;
    }
    current.voltage_scale = target->voltage_scale;
    current.overdrive = target->overdrive;
  }
  /* 4. oscillator and PLL of the target */
  const uint8_t oscillator = target->source == STM32DVFS_CLOCK_PLL ? target->pll_source : target->source;
  if ((status = oscillator_on(target, oscillator)) != STM32DVFS_OK) {
    return status;
  }
  if (target->source == STM32DVFS_CLOCK_PLL && (status = pll_on(target)) != STM32DVFS_OK) {
    return status;
  }
  /* 5. SYSCLK and the prescaler, the larger divider first: the core clock never passes through a
   *    frequency above both the old and the new one */
  if (target->ahb_prescaler > current.ahb_prescaler) {
    stm32dvfs_family_set_prescaler(target->ahb_prescaler);
  }
  if ((status = select_sysclk(target->source)) != STM32DVFS_OK) {
    return status;
  }
  stm32dvfs_family_set_prescaler(target->ahb_prescaler);
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
typedef int stm32dvfs_clock_unused;
#endif
