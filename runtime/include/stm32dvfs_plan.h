/**
 * @file stm32dvfs_plan.h
 * @brief The DVFS plan table of a generated model and the handler that follows it.
 *
 * The compiler decides the plan; the firmware only reads it. A plan lists the clock states it
 * uses (everything a clock driver needs to reach one: SYSCLK source, PLL dividers, AHB
 * prescaler, voltage scale, over-drive, flash wait states) and, per layer, the state of its
 * access phase and of its execute phase. stm32dvfs_plan_install() hooks the phase events of
 * stm32dvfs_runtime.h: a plain layer and the start of a decoupled one run in the access state,
 * STM32DVFS_EXECUTE phases in the execute state. A switch happens only when the state changes.
 */
#ifndef STM32DVFS_PLAN_H
#define STM32DVFS_PLAN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  STM32DVFS_CLOCK_HSI = 0,
  STM32DVFS_CLOCK_HSE = 1,
  STM32DVFS_CLOCK_MSI = 2,
  STM32DVFS_CLOCK_PLL = 3,
} stm32dvfs_clock_source;

/** One clock state of the board, as the compiler's clock-tree explorer found it. */
typedef struct {
  uint32_t sysclk_hz;      /**< HCLK after the AHB prescaler */
  uint8_t source;          /**< stm32dvfs_clock_source of SYSCLK */
  uint8_t pll_source;      /**< oscillator feeding the PLL (when source is PLL) */
  uint16_t pll_m;          /**< PLL input divider (0 when the PLL is unused) */
  uint16_t pll_n;          /**< PLL multiplier */
  uint16_t pll_p;          /**< PLL SYSCLK divider */
  uint16_t ahb_prescaler;  /**< HCLK = SYSCLK / ahb_prescaler */
  uint8_t voltage_scale;   /**< the scale's register field value: F4/F7 PWR_CR1.VOS, H7 D3CR.VOS, L4 CR1.VOS */
  uint8_t overdrive;       /**< over-drive (F7) / boost (L4+) on */
  uint8_t flash_wait_states;
  uint32_t oscillator_hz;  /**< the oscillator feeding SYSCLK or the PLL (MSI range, PLL input range) */
} stm32dvfs_clock_state;

/** The states of one layer's phases (indices into stm32dvfs_plan.states). */
typedef struct {
  uint8_t access;
  uint8_t execute;
} stm32dvfs_layer_plan;

/** How the plan spends the rest of the period after an inference. */
typedef enum {
  STM32DVFS_IDLE_BUSY = 0,  /**< spin at the start state's clock */
  STM32DVFS_IDLE_SLEEP = 1, /**< WFI: core clock stopped, peripherals running */
  STM32DVFS_IDLE_STOP = 2,  /**< SLEEPDEEP + WFI: Stop mode, wakes on HSI */
} stm32dvfs_idle_mode;

typedef struct {
  const stm32dvfs_clock_state* states;
  uint32_t num_states;
  const stm32dvfs_layer_plan* layers;
  uint32_t num_layers;
  uint8_t initial; /**< the state the period starts and idles in */
  uint8_t idle;    /**< stm32dvfs_idle_mode between inferences */
} stm32dvfs_plan;

/**
 * @brief Bring the clock tree to ``state``: the board port's clock driver.
 *
 * The runtime's default (weak) definition only records the request, for host and emulator
 * runs; a firmware project links a driver that programs RCC, PWR and FLASH in the safe order.
 * @return STM32DVFS_OK or STM32DVFS_ERROR_CLOCK.
 */
int stm32dvfs_clock_apply(const stm32dvfs_clock_state* state);

/** Follow ``plan`` from now on: bring the clock to ``plan->initial`` and install the phase
 *  handler. NULL uninstalls. */
void stm32dvfs_plan_install(const stm32dvfs_plan* plan);

/** Clock switches requested since the plan was installed, and the first failed one's status. */
uint32_t stm32dvfs_plan_switches(void);
int stm32dvfs_plan_status(void);

/** The state index the plan is in now. */
uint32_t stm32dvfs_plan_current_state(void);

#ifdef __cplusplus
}
#endif

#endif /* STM32DVFS_PLAN_H */
