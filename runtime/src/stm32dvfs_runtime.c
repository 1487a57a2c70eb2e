/* Phase hooks: see stm32dvfs_runtime.h. No allocation, no libc. */
#include "stm32dvfs_runtime.h"

#include <stddef.h>

static stm32dvfs_phase_handler phase_handler = NULL;
static uint32_t current_layer = 0;
static uint32_t phase_events = 0;

stm32dvfs_phase_handler stm32dvfs_set_phase_handler(stm32dvfs_phase_handler handler)
{
  stm32dvfs_phase_handler previous = phase_handler;
  phase_handler = handler;
  return previous;
}

void stm32dvfs_layer_begin(uint32_t layer)
{
  current_layer = layer;
  ++phase_events;
  if (phase_handler != NULL) {
    phase_handler(layer, STM32DVFS_PLAIN);
  }
}

void stm32dvfs_phase(stm32dvfs_phase_kind phase)
{
  ++phase_events;
  if (phase_handler != NULL) {
    phase_handler(current_layer, phase);
  }
}

uint32_t stm32dvfs_phase_events(void)
{
  return phase_events;
}

void stm32dvfs_reset_phase_events(void)
{
  phase_events = 0;
}
