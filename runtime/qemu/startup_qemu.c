/* Start-up for the QEMU mps2-an500 run of a generated model: vector table, FPU on, .data/.bss,
 * semihosting, then exit(main()) so that main's status becomes QEMU's exit status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

void Reset_Handler(void);
void Default_Handler(void);

void Default_Handler(void)
{
  exit(99);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
  (void (*)(void))(&_estack), Reset_Handler, Default_Handler, Default_Handler, Default_Handler,
  Default_Handler, Default_Handler, 0, 0, 0, 0, Default_Handler, Default_Handler, 0, Default_Handler,
  Default_Handler,
};

void Reset_Handler(void)
{
  *(volatile uint32_t*)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10/CP11 full access (the FPU) */
  __asm volatile("dsb\n isb");
  memcpy(&_sdata, &_sidata, (size_t)((char*)&_edata - (char*)&_sdata));
  memset(&_sbss, 0, (size_t)((char*)&_ebss - (char*)&_sbss));
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

void _init(void) {}
void _fini(void) {}
