/*
 * Cycles per layer and phase (stm32dvfs_profile.h): a phase handler that reads the cycle counter
 * at every phase event, before the plan's handler switches the clock (the switch is not the
 * phase's work).
 */
#include "stm32dvfs_profile.h"

#include <stddef.h>

#include "stm32dvfs_runtime.h"

#if defined(STM32DVFS_PLATFORM_QEMU)
/* SysTick (ARMv7-M ARM, B3.3): counts down from LOAD; the difference of two reads, modulo 2^24,
 * is the cycles between them (phases are far shorter than 2^24 cycles apart). */
#define SYST_CSR (*(volatile uint32_t*)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t*)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t*)0xE000E018u)

static void counter_start(void)
{
  SYST_RVR = 0x00FFFFFFu;
  SYST_CVR = 0u;
  SYST_CSR = 5u; /* ENABLE, CLKSOURCE = processor clock, no interrupt */
}

static uint32_t counter_now(void)
{
  return (0u - SYST_CVR) & 0x00FFFFFFu; /* counting up */
}

static uint32_t counter_since(uint32_t then, uint32_t now)
{
  return (now - then) & 0x00FFFFFFu;
}
#else
/* The DWT cycle counter (ARMv7-M ARM, C1.8); the Cortex-M7's DWT needs unlocking first. */
#define DEMCR (*(volatile uint32_t*)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t*)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t*)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t*)0xE0001FB0u)

static void counter_start(void)
{
  DEMCR |= 1u << 24;     /* TRCENA */
  DWT_LAR = 0xC5ACCE55u; /* Cortex-M7: unlock the DWT */
  DWT_CTRL |= 1u;        /* CYCCNTENA */
}

static uint32_t counter_now(void)
{
  return DWT_CYCCNT;
}

static uint32_t counter_since(uint32_t then, uint32_t now)
{
  return now - then;
}
#endif

static uint32_t (*phase_cycles)[3];
static uint32_t num_layers;
static uint32_t last;
static uint32_t current_layer;
static stm32dvfs_phase_kind current_phase = STM32DVFS_PLAIN;
static int measuring;
static stm32dvfs_phase_handler next_handler;
static void (*event_hook)(void);

static void close_phase(void)
{
  const uint32_t now = counter_now();
  if (measuring) {
    phase_cycles[current_layer][current_phase] += counter_since(last, now);
  }
  last = now;
}

static void profile_phase(uint32_t layer, stm32dvfs_phase_kind phase)
{
  close_phase();
  if (event_hook != NULL) {
    event_hook();
  }
  measuring = layer < num_layers;
  current_layer = layer;
  current_phase = phase;
  if (next_handler != NULL) {
    next_handler(layer, phase);
  }
  last = counter_now();
}

void stm32dvfs_profile_start(uint32_t (*cycles)[3], uint32_t layers, void (*on_event)(void))
{
  phase_cycles = cycles;
  num_layers = layers;
  event_hook = on_event;
  counter_start();
  next_handler = stm32dvfs_set_phase_handler(profile_phase);
}

void stm32dvfs_profile_pause(void)
{
  close_phase();
  measuring = 0;
}

void stm32dvfs_put_u32(void (*put)(char), uint32_t value)
{
  char digits[10];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10u);
    value /= 10u;
  } while (value != 0u);
  while (n > 0) {
    put(digits[--n]);
  }
}

void stm32dvfs_put_i32(void (*put)(char), int32_t value)
{
  if (value < 0) {
    put('-');
    stm32dvfs_put_u32(put, 0u - (uint32_t)value);
  } else {
    stm32dvfs_put_u32(put, (uint32_t)value);
  }
}

void stm32dvfs_put_text(void (*put)(char), const char* text)
{
  while (*text != '\0') {
    put(*text++);
  }
}

void stm32dvfs_profile_csv(void (*put)(char), uint32_t (*cycles)[3], uint32_t layers, uint32_t repeat,
                           const stm32dvfs_plan* plan, uint32_t hz)
{
  static const char* const phase_names[3] = {"access", "execute", "plain"};
  stm32dvfs_put_text(put, "layer,phase,hz,wait_states,cycles\n");
  for (uint32_t layer = 0; layer < layers; ++layer) {
    if (cycles[layer][STM32DVFS_ACCESS] != 0u) {
      cycles[layer][STM32DVFS_ACCESS] += cycles[layer][STM32DVFS_PLAIN];
      cycles[layer][STM32DVFS_PLAIN] = 0u;
    }
    for (uint32_t phase = 0; phase < 3u; ++phase) {
      if (cycles[layer][phase] == 0u) {
        continue;
      }
      uint32_t state_hz = hz;
      uint32_t wait_states = 0u;
      if (plan != NULL) {
        const stm32dvfs_layer_plan* entry = &plan->layers[layer];
        const stm32dvfs_clock_state* state = &plan->states[phase == STM32DVFS_EXECUTE ? entry->execute : entry->access];
        state_hz = state->sysclk_hz;
        wait_states = state->flash_wait_states;
      }
      stm32dvfs_put_u32(put, layer);
      put(',');
      stm32dvfs_put_text(put, phase_names[phase]);
      put(',');
      stm32dvfs_put_u32(put, state_hz);
      put(',');
      stm32dvfs_put_u32(put, wait_states);
      put(',');
      stm32dvfs_put_u32(put, cycles[layer][phase] / repeat);
      put('\n');
    }
  }
}
