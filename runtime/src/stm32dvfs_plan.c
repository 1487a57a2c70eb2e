/* The plan handler: see stm32dvfs_plan.h. No allocation, no libc. */
#include "stm32dvfs_plan.h"

#include <stddef.h>

#include "stm32dvfs_runtime.h"
#include "stm32dvfs_status.h"

static const stm32dvfs_plan* active_plan = NULL;
static uint32_t current_state = 0;
static uint32_t switches = 0;
static int status = STM32DVFS_OK;

__attribute__((weak)) int stm32dvfs_clock_apply(const stm32dvfs_clock_state* state)
{
  (void)state; /* host and emulator builds: the request is all there is to record */
  return STM32DVFS_OK;
}

static void follow_plan(uint32_t layer, stm32dvfs_phase_kind phase)
{
  if (active_plan == NULL || layer >= active_plan->num_layers) {
    return;
  }
  const stm32dvfs_layer_plan* entry = &active_plan->layers[layer];
  const uint32_t wanted = (phase == STM32DVFS_EXECUTE) ? entry->execute : entry->access;
  if (wanted == current_state || wanted >= active_plan->num_states) {
    return;
  }
  ++switches;
  const int result = stm32dvfs_clock_apply(&active_plan->states[wanted]);
  if (result != STM32DVFS_OK) {
    if (status == STM32DVFS_OK) {
      status = result; /* keep running in the old state: slower, never wrong */
    }
    return;
  }
  current_state = wanted;
}

void stm32dvfs_plan_install(const stm32dvfs_plan* plan)
{
  active_plan = plan;
  switches = 0;
  status = STM32DVFS_OK;
  current_state = (plan != NULL) ? plan->initial : 0u;
  if (plan != NULL && plan->initial < plan->num_states) {
    status = stm32dvfs_clock_apply(&plan->states[plan->initial]); /* from whatever reset left */
  }
  (void)stm32dvfs_set_phase_handler((plan != NULL) ? follow_plan : NULL);
}

uint32_t stm32dvfs_plan_switches(void)
{
  return switches;
}

int stm32dvfs_plan_status(void)
{
  return status;
}

uint32_t stm32dvfs_plan_current_state(void)
{
  return current_state;
}
