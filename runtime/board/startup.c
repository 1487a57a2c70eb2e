/* Start-up of a Cortex-M4/M7 STM32 firmware: the vector table (system exceptions; no peripheral
 * interrupt is used), FPU access, .data copied from flash, .bss zeroed, then main(). Faults stop
 * in a loop a debugger shows. Written for tvm-stm32dvfs; no vendor code. */
#include <stdint.h>
#include <string.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);

void Reset_Handler(void);
void Fault_Handler(void);

void Fault_Handler(void)
{
  for (;;) {
  }
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
  (void (*)(void))(&_estack), Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
  Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
};

void Reset_Handler(void)
{
  *(volatile uint32_t*)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10/CP11 full access (the FPU) */
  __asm volatile("dsb\n isb");
  memcpy(&_sdata, &_sidata, (size_t)((char*)&_edata - (char*)&_sdata));
  memset(&_sbss, 0, (size_t)((char*)&_ebss - (char*)&_sbss));
  (void)main();
  for (;;) {
  }
}

void _init(void) {}
void _fini(void) {}
