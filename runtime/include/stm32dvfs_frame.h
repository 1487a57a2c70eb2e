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

/** A frame written in pieces, for a payload produced as it is sent (the profiling CSV): the
 *  header of a frame of ``n`` payload bytes; returns the CRC so far. */
uint32_t stm32dvfs_frame_begin(void (*put)(uint8_t), stm32dvfs_frame_kind kind, const uint8_t hash[8], uint32_t n);

/** One payload byte of the frame begun; returns the CRC continued. */
uint32_t stm32dvfs_frame_put(void (*put)(uint8_t), uint32_t crc, uint8_t byte);

/** The CRC that ends the frame, after exactly ``n`` payload bytes. */
void stm32dvfs_frame_end(void (*put)(uint8_t), uint32_t crc);

/** What stm32dvfs_frame_read() found wrong (0: a good frame). */
typedef enum {
  STM32DVFS_FRAME_OK = 0,
  STM32DVFS_FRAME_BAD_CRC = 1,     /**< garbled on the link */
  STM32DVFS_FRAME_BAD_VERSION = 2, /**< another protocol version */
  STM32DVFS_FRAME_OTHER_MODEL = 3, /**< sent for another model */
  STM32DVFS_FRAME_BAD_KIND = 4,    /**< not the kind expected */
  STM32DVFS_FRAME_BAD_LENGTH = 5,  /**< not the length expected (the payload is skipped) */
  STM32DVFS_FRAME_HELLO = 6,       /**< a READY frame from the host: announce yourself again */
} stm32dvfs_frame_error;

/** Read the next frame through ``get`` (the next byte, blocking), skipping anything before its
 *  magic: it must be of ``kind``, for the model ``hash``, with exactly ``n`` payload bytes, which
 *  land in ``payload``. */
stm32dvfs_frame_error stm32dvfs_frame_read(uint8_t (*get)(void), stm32dvfs_frame_kind kind, const uint8_t hash[8],
                                           uint8_t* payload, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* STM32DVFS_FRAME_H */
