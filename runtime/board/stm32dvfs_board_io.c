/* Console and marker pin of the board platform: see stm32dvfs_board_io.h. Register addresses
 * and fields from the families' reference manuals (RM0383 STM32F411, RM0385 STM32F74x/75x,
 * RM0410 STM32F76x/77x, RM0433 STM32H743, RM0432 STM32L4R5); no vendor code. */
#include "stm32dvfs_board_io.h"

#define REG(address) (*(volatile uint32_t*)(address))
#define IO_TIMEOUT 1000000u /* polls of a status bit before giving up */

/* GPIO (same layout on every family: RM0385 6.4, RM0433 11.4, RM0432 8.5) */
#define GPIO_MODER(base) REG((base) + 0x00u)
#define GPIO_ODR(base) REG((base) + 0x14u)
#define GPIO_AFRL(base) REG((base) + 0x20u)
#define GPIO_AFRH(base) REG((base) + 0x24u)

#if defined(STM32DVFS_FAMILY_F4) || defined(STM32DVFS_FAMILY_F7)
/* RM0383 6.3 / RM0385 5.3: GPIOx at 0x4002 0000 + 0x400 x, clocked by RCC_AHB1ENR bit x */
#define GPIO_PORT(x) (0x40020000u + 0x400u * (uint32_t)(x))
#define RCC_GPIO_ENR REG(0x40023830u)
#define RCC_CFGR REG(0x40023808u)
#define RESET_HZ 16000000u /* HSI */
#define APB_BITS(bus) (((bus) == 2 ? (RCC_CFGR >> 13) : (RCC_CFGR >> 10)) & 7u) /* PPRE2, PPRE1 */
#define AHB_DIVIDER 1u /* the plan's clock is HCLK */
#if defined(STM32DVFS_CONSOLE_USART1)
#define UART_BASE 0x40011000u
#define UART_ENR REG(0x40023844u) /* RCC_APB2ENR */
#define UART_EN_BIT 4u
#define UART_BUS 2
#elif defined(STM32DVFS_CONSOLE_USART2)
#define UART_BASE 0x40004400u
#define UART_ENR REG(0x40023840u) /* RCC_APB1ENR */
#define UART_EN_BIT 17u
#define UART_BUS 1
#elif defined(STM32DVFS_CONSOLE_USART3)
#define UART_BASE 0x40004800u
#define UART_ENR REG(0x40023840u)
#define UART_EN_BIT 18u
#define UART_BUS 1
#endif

#elif defined(STM32DVFS_FAMILY_H7)
/* RM0433 8.7: GPIOx at 0x5802 0000 + 0x400 x, RCC_AHB4ENR bit x; USART3 on APB1 (RCC_APB1LENR
 * bit 18), kernel clock pclk1 by default (RCC_D2CCIP2R.USART234578SEL = 0) */
#define GPIO_PORT(x) (0x58020000u + 0x400u * (uint32_t)(x))
#define RCC_GPIO_ENR REG(0x580244E0u)
#define RCC_D1CFGR REG(0x58024418u)
#define RCC_D2CFGR REG(0x5802441Cu)
#define RESET_HZ 64000000u /* HSI */
#define APB_BITS(bus) ((RCC_D2CFGR >> ((bus) == 2 ? 8u : 4u)) & 7u) /* D2PPRE2, D2PPRE1 */
#define AHB_DIVIDER hpre_divider()
#if defined(STM32DVFS_CONSOLE_USART3)
#define UART_BASE 0x40004800u
#define UART_ENR REG(0x580244E8u) /* RCC_APB1LENR */
#define UART_EN_BIT 18u
#define UART_BUS 1
#endif

#if defined(STM32DVFS_CONSOLE)
static uint32_t hpre_divider(void)
{
  /* RCC_D1CFGR.HPRE: 0xxx /1, 1000 /2, 1001 /4, 1010 /8, 1011 /16, 1100 /64 ... */
  const uint32_t bits = RCC_D1CFGR & 0xFu;
  if (bits < 8u) {
    return 1u;
  }
  const uint32_t shift = bits - 7u;
  return 1u << (shift < 5u ? shift : shift + 1u);
}
#endif

#elif defined(STM32DVFS_FAMILY_L4)
/* RM0432 6.4: GPIOx at 0x4800 0000 + 0x400 x, RCC_AHB2ENR bit x; LPUART1 on APB1 (RCC_APB1ENR2
 * bit 0), kernel clock PCLK1 by default (RCC_CCIPR.LPUART1SEL = 0); port G is supplied by VDDIO2,
 * valid only once PWR_CR2.IOSV is set */
#define GPIO_PORT(x) (0x48000000u + 0x400u * (uint32_t)(x))
#define RCC_GPIO_ENR REG(0x4002104Cu)
#define RCC_CFGR REG(0x40021008u)
#define RCC_APB1ENR1 REG(0x40021058u)
#define PWR_CR2 REG(0x40007004u)
#define RESET_HZ 4000000u /* MSI range 6 */
#define APB_BITS(bus) (((bus) == 2 ? (RCC_CFGR >> 11) : (RCC_CFGR >> 8)) & 7u) /* PPRE2, PPRE1 */
#define AHB_DIVIDER 1u
#if defined(STM32DVFS_CONSOLE_LPUART1)
#define UART_BASE 0x40008000u
#define UART_ENR REG(0x4002105Cu) /* RCC_APB1ENR2 */
#define UART_EN_BIT 0u
#define UART_BUS 1
#define UART_LPUART 1
#endif
#endif

#if defined(STM32DVFS_CONSOLE) && !defined(UART_BASE)
#error "the board's console peripheral is not supported on this family"
#endif

#if defined(STM32DVFS_FAMILY_F4)
/* USART v1 (RM0383 19.6): SR, DR (transmit and receive), BRR, CR1 with UE in bit 13; an overrun
 * (SR.ORE) clears by reading SR then DR, which receiving does */
#define UART_STATUS REG(UART_BASE + 0x00u)
#define UART_TX REG(UART_BASE + 0x04u)
#define UART_RX REG(UART_BASE + 0x04u)
#define UART_BRR REG(UART_BASE + 0x08u)
#define UART_CR1 REG(UART_BASE + 0x0Cu)
#define UART_CR1_ENABLE ((1u << 13) | (1u << 3) | (1u << 2)) /* UE, TE, RE */
#else
/* USART / LPUART (RM0385 31.8, RM0433 48.7, RM0432 44.7): CR1 with UE in bit 0, BRR, ISR, ICR,
 * RDR, TDR; an overrun (ISR.ORE) stops reception until ICR.ORECF clears it */
#define UART_CR1 REG(UART_BASE + 0x00u)
#define UART_BRR REG(UART_BASE + 0x0Cu)
#define UART_STATUS REG(UART_BASE + 0x1Cu)
#define UART_ICR REG(UART_BASE + 0x20u)
#define UART_RX REG(UART_BASE + 0x24u)
#define UART_TX REG(UART_BASE + 0x28u)
#define UART_CR1_ENABLE ((1u << 0) | (1u << 3) | (1u << 2)) /* UE, TE, RE */
#endif
#define UART_RXNE (1u << 5)
#define UART_ORE (1u << 3)
#define UART_TXE (1u << 7)
#define UART_TC (1u << 6)

#if defined(STM32DVFS_CONSOLE) || defined(STM32DVFS_MARKER)
static void gpio_enable(uint32_t port)
{
  RCC_GPIO_ENR |= 1u << port;
  (void)RCC_GPIO_ENR; /* a read-back: the clock is on before the first register access */
}
#endif

#if defined(STM32DVFS_CONSOLE)
static uint32_t apb_divider(uint32_t bits)
{
  return bits < 4u ? 1u : 1u << (bits - 3u); /* 0xx /1, 100 /2, 101 /4, 110 /8, 111 /16 */
}

/* ``pin`` of ``port`` to alternate function ``af`` */
static void pin_alternate(uint32_t port, uint32_t pin, uint32_t af)
{
  const uint32_t base = GPIO_PORT(port);
  gpio_enable(port);
  volatile uint32_t* afr = pin < 8u ? &GPIO_AFRL(base) : &GPIO_AFRH(base);
  const uint32_t shift = 4u * (pin & 7u);
  *afr = (*afr & ~(0xFu << shift)) | (af << shift);
  GPIO_MODER(base) = (GPIO_MODER(base) & ~(3u << (2u * pin))) | (2u << (2u * pin)); /* alternate function */
}

void stm32dvfs_console_init(uint32_t cpu_hz)
{
#if defined(STM32DVFS_FAMILY_L4)
  RCC_APB1ENR1 |= 1u << 28; /* PWREN */
  (void)RCC_APB1ENR1;
  PWR_CR2 |= 1u << 9; /* IOSV: VDDIO2 valid (port G) */
#endif
  UART_ENR |= 1u << UART_EN_BIT;
  (void)UART_ENR;
  pin_alternate(STM32DVFS_CONSOLE_TX_PORT, STM32DVFS_CONSOLE_TX_PIN, STM32DVFS_CONSOLE_TX_AF);
  pin_alternate(STM32DVFS_CONSOLE_RX_PORT, STM32DVFS_CONSOLE_RX_PIN, STM32DVFS_CONSOLE_RX_AF);

  const uint32_t hz = cpu_hz != 0u ? cpu_hz : RESET_HZ;
  const uint32_t pclk = hz / AHB_DIVIDER / apb_divider(APB_BITS(UART_BUS));
  const uint32_t baud = STM32DVFS_CONSOLE_BAUD;
  UART_CR1 = 0u; /* BRR may only change while the peripheral is disabled */
#if defined(UART_LPUART)
  UART_BRR = (uint32_t)(((uint64_t)pclk * 256u + baud / 2u) / baud);
#else
  UART_BRR = (pclk + baud / 2u) / baud; /* oversampling by 16 */
#endif
  UART_CR1 = UART_CR1_ENABLE;
}

void stm32dvfs_console_putc(char c)
{
  for (uint32_t i = 0; i < IO_TIMEOUT; ++i) {
    if ((UART_STATUS & UART_TXE) != 0u) {
      UART_TX = (uint8_t)c;
      return;
    }
  }
}

char stm32dvfs_console_getc(void)
{
  for (;;) {
    const uint32_t status = UART_STATUS;
    if ((status & UART_RXNE) != 0u) {
      return (char)(UART_RX & 0xFFu);
    }
    if ((status & UART_ORE) != 0u) {
#if defined(STM32DVFS_FAMILY_F4)
      (void)UART_RX; /* SR then DR clears ORE */
#else
      UART_ICR = UART_ORE; /* ORECF */
#endif
    }
  }
}

void stm32dvfs_console_flush(void)
{
  for (uint32_t i = 0; i < IO_TIMEOUT && (UART_STATUS & UART_TC) == 0u; ++i) {
  }
}
#endif /* STM32DVFS_CONSOLE */

#if defined(STM32DVFS_MARKER)
void stm32dvfs_marker_init(void)
{
  const uint32_t base = GPIO_PORT(STM32DVFS_MARKER_PORT);
  const uint32_t pin = STM32DVFS_MARKER_PIN;
  gpio_enable(STM32DVFS_MARKER_PORT);
  GPIO_ODR(base) &= ~(1u << pin);
  GPIO_MODER(base) = (GPIO_MODER(base) & ~(3u << (2u * pin))) | (1u << (2u * pin)); /* output */
}

void stm32dvfs_marker_toggle(void)
{
  GPIO_ODR(GPIO_PORT(STM32DVFS_MARKER_PORT)) ^= 1u << STM32DVFS_MARKER_PIN;
}
#endif /* STM32DVFS_MARKER */
