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

static const uint8_t magic[4] = {'S', '3', 'D', 'V'};

uint32_t stm32dvfs_frame_begin(void (*put)(uint8_t), stm32dvfs_frame_kind kind, const uint8_t hash[8], uint32_t n)
{
  const uint8_t head[2] = {(uint8_t)STM32DVFS_PROTOCOL_VERSION, (uint8_t)kind};
  uint8_t word[4];
  (void)put_bytes(put, 0u, magic, 4u);
  uint32_t crc = put_bytes(put, 0u, head, 2u);
  crc = put_bytes(put, crc, hash, 8u);
  le32(word, n);
  return put_bytes(put, crc, word, 4u);
}

uint32_t stm32dvfs_frame_put(void (*put)(uint8_t), uint32_t crc, uint8_t byte)
{
  return put_bytes(put, crc, &byte, 1u);
}

void stm32dvfs_frame_end(void (*put)(uint8_t), uint32_t crc)
{
  uint8_t word[4];
  le32(word, crc);
  (void)put_bytes(put, 0u, word, 4u);
}

void stm32dvfs_frame_write(void (*put)(uint8_t), stm32dvfs_frame_kind kind, const uint8_t hash[8],
                           const uint8_t* payload, uint32_t n)
{
  const uint32_t crc = stm32dvfs_frame_begin(put, kind, hash, n);
  stm32dvfs_frame_end(put, put_bytes(put, crc, payload, n));
}

stm32dvfs_frame_error stm32dvfs_frame_read(uint8_t (*get)(void), stm32dvfs_frame_kind kind, const uint8_t hash[8],
                                           uint8_t* payload, uint32_t n)
{
  /* up to the magic: a mismatch restarts the match at the byte that broke it when that byte
   * begins the magic ('S' occurs once in it) */
  uint32_t matched = 0u;
  while (matched < 4u) {
    const uint8_t c = get();
    matched = c == magic[matched] ? matched + 1u : (c == magic[0] ? 1u : 0u);
  }
  uint8_t head[14]; /* version, kind, hash, length */
  for (uint32_t i = 0; i < sizeof head; ++i) {
    head[i] = get();
  }
  uint32_t crc = stm32dvfs_crc32(0u, head, sizeof head);
  const uint32_t length = (uint32_t)head[10] | (uint32_t)head[11] << 8 | (uint32_t)head[12] << 16 |
                          (uint32_t)head[13] << 24;
  const int fits = length == n;
  for (uint32_t i = 0; i < length; ++i) { /* a payload of another length is read and dropped */
    const uint8_t c = get();
    if (fits) {
      payload[i] = c;
    }
    crc = stm32dvfs_crc32(crc, &c, 1u);
  }
  uint32_t sent = 0u;
  for (uint32_t i = 0; i < 4u; ++i) {
    sent |= (uint32_t)get() << (8u * i);
  }
  if (sent != crc) {
    return STM32DVFS_FRAME_BAD_CRC;
  }
  if (head[0] != STM32DVFS_PROTOCOL_VERSION) {
    return STM32DVFS_FRAME_BAD_VERSION;
  }
  for (uint32_t i = 0; i < 8u; ++i) {
    if (head[2u + i] != hash[i]) {
      return STM32DVFS_FRAME_OTHER_MODEL;
    }
  }
  if (head[1] == (uint8_t)STM32DVFS_FRAME_READY && kind != STM32DVFS_FRAME_READY) {
    return STM32DVFS_FRAME_HELLO;
  }
  if (head[1] != (uint8_t)kind) {
    return STM32DVFS_FRAME_BAD_KIND;
  }
  return fits ? STM32DVFS_FRAME_OK : STM32DVFS_FRAME_BAD_LENGTH;
}
