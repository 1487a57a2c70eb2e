/**
 * @file stm32dvfs_status.h
 * @brief The one status enum of the tvm-stm32dvfs runtime and of every generated model.
 */
#ifndef STM32DVFS_STATUS_H
#define STM32DVFS_STATUS_H

typedef enum {
  STM32DVFS_OK = 0,            /**< success */
  STM32DVFS_ERROR_ARGUMENT = 1, /**< a NULL or misaligned input/output pointer */
  STM32DVFS_ERROR_CLOCK = 2,    /**< a clock switch timed out (PLL lock, regulator, over-drive) */
  STM32DVFS_ERROR_DMA = 3,      /**< a DMA transfer failed or timed out (the CPU copied instead) */
} stm32dvfs_status;

#endif /* STM32DVFS_STATUS_H */
