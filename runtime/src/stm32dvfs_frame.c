/*
 * Frames of the serial protocol (stm32dvfs_frame.h). The CRC is computed bit by bit: no table in
 * flash, and a frame is a few hundred bytes at the console's 115200 baud, so its cost is noise.
 */
#include "stm32dvfs_frame.h"

uint32_t stm32dvfs_crc32(uint32_t crc, const uint8_t* data, uint32_t n)
{
  crc = ~crc;
  for (uint32_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
  }
  return ~crc;
}

static uint32_t put_bytes(void (*put)(uint8_t), uint32_t crc, const uint8_t* data, uint32_t n)
{
  for (uint32_t i = 0; i < n; ++i) {
    put(data[i]);
  }
  return stm32dvfs_crc32(crc, data, n);
}

static void le32(uint8_t out[4], uint32_t v)
{
  for (int i = 0; i < 4; ++i) {
    out[i] = (uint8_t)(v >> (8 * i));
  }
}

void stm32dvfs_frame_write(void (*put)(uint8_t), stm32dvfs_frame_kind kind, const uint8_t hash[8],
                           const uint8_t* payload, uint32_t n)
{
  static const uint8_t magic[4] = {'S', '3', 'D', 'V'};
  const uint8_t head[2] = {(uint8_t)STM32DVFS_PROTOCOL_VERSION, (uint8_t)kind};
  uint8_t word[4];
  (void)put_bytes(put, 0u, magic, 4u);
  uint32_t crc = put_bytes(put, 0u, head, 2u);
  crc = put_bytes(put, crc, hash, 8u);
  le32(word, n);
  crc = put_bytes(put, crc, word, 4u);
  crc = put_bytes(put, crc, payload, n);
  le32(word, crc);
  (void)put_bytes(put, 0u, word, 4u);
}
