/**
 * @file stm32dvfs_frame.h
 * @brief The firmware's side of the framed serial protocol (tvm_stm32dvfs/project/protocol.py):
 *        frames written to the console, byte by byte.
 *
 * A frame: magic "S3DV", protocol version, kind, the model's 8-byte hash, the payload length
 * (32-bit little-endian), the payload, and the CRC-32 (IEEE 802.3, reflected, the one zlib
 * computes) of everything after the magic, little-endian.
 */
#ifndef STM32DVFS_FRAME_H
#define STM32DVFS_FRAME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STM32DVFS_PROTOCOL_VERSION 1u

/** Frame kinds (FrameKind of protocol.py). */
typedef enum {
  STM32DVFS_FRAME_INPUT = 1,
  STM32DVFS_FRAME_OUTPUT = 2,
  STM32DVFS_FRAME_REPORT = 3,
  STM32DVFS_FRAME_READY = 4,
} stm32dvfs_frame_kind;

/** Continue a CRC-32 over ``n`` bytes (start with 0; the result is the CRC of all bytes so far). */
uint32_t stm32dvfs_crc32(uint32_t crc, const uint8_t* data, uint32_t n);

/** Write one frame through ``put`` (one byte a call): ``kind``, the model's ``hash`` (8 bytes)
 *  and ``n`` payload bytes. */
void stm32dvfs_frame_write(void (*put)(uint8_t), stm32dvfs_frame_kind kind, const uint8_t hash[8],
                           const uint8_t* payload, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* STM32DVFS_FRAME_H */
