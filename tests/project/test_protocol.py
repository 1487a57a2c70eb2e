"""The host side of the framed serial protocol: frames round-trip through any chunking, and a
flipped byte, a truncated frame, another model's firmware or another protocol version is a clear
BoardLinkError, never data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_stm32dvfs.errors import BoardLinkError, Stm32DvfsError
from tvm_stm32dvfs.project.protocol import (MAGIC, PROTOCOL_VERSION, FrameKind, FrameReader, encode,
                                            model_hash)

MODEL = model_hash({"model.c": "int x;", "weights.c": "const int w;"})


def _source(data: bytes, chunk: int = 7):
    """read(n) over ``data`` in chunks of at most ``chunk`` bytes, then nothing."""
    position = 0

    def read(n: int) -> bytes:
        nonlocal position
        out = data[position:position + min(n, chunk)]
        position += len(out)
        return out

    return read


def test_model_hash_tells_models_apart():
    assert len(MODEL) == 8
    assert model_hash({"weights.c": "const int w;", "model.c": "int x;"}) == MODEL  # order-free
    assert model_hash({"model.c": "int x;", "weights.c": "const int v;"}) != MODEL
    assert model_hash({"model.c": "int x;", "weights2.c": "const int w;"}) != MODEL


@settings(max_examples=60, deadline=None)
@given(payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=4),
       noise=st.binary(max_size=40).filter(lambda b: MAGIC[:1] not in b), chunk=st.integers(1, 64))
def test_frames_round_trip_through_any_chunking_after_console_text(payloads, noise, chunk):
    data = noise + b"".join(encode(FrameKind.OUTPUT, MODEL, p) for p in payloads)
    reader = FrameReader(_source(data, chunk), MODEL, timeout_s=5)
    assert [reader.expect(FrameKind.OUTPUT).payload for _ in payloads] == payloads
    assert bytes(reader.skipped) == noise


@pytest.mark.parametrize("index", [4, 5, 6, 13, 18, 25, -1])
def test_a_flipped_byte_is_a_garbled_frame(index):
    frame = bytearray(encode(FrameKind.OUTPUT, MODEL, bytes(range(16))))
    frame[index] ^= 0x10
    with pytest.raises(BoardLinkError) as error:
        FrameReader(_source(bytes(frame)), MODEL, timeout_s=0.2).read_frame()
    # the version byte and the kind byte have their own messages; anything else fails the CRC
    # (a length byte grown by 16 leaves the frame short: the read times out, nothing passes)
    assert any(text in str(error.value) for text in ("CRC does not match", "protocol version", "no complete frame",
                                                     "unknown kind")), error.value


def test_a_truncated_frame_times_out_with_what_arrived():
    frame = encode(FrameKind.OUTPUT, MODEL, bytes(100))
    with pytest.raises(BoardLinkError, match=r"no complete frame of 100 payload bytes within 0.2 s \(90 of 122 bytes\)"):
        FrameReader(_source(frame[:90]), MODEL, timeout_s=0.2).read_frame()


def test_silence_is_a_timeout_that_names_the_port_check():
    with pytest.raises(BoardLinkError, match="sent no complete frame header within 0.1 s.*port right"):
        FrameReader(lambda n: b"", MODEL, timeout_s=0.1, where="/dev/ttyACM0").read_frame()


def test_another_models_firmware_is_refused():
    other = model_hash({"model.c": "int y;"})
    frame = encode(FrameKind.READY, other, b"")
    with pytest.raises(BoardLinkError, match=f"runs another model \\(hash {other.hex()}, expected {MODEL.hex()}\\)"):
        FrameReader(_source(frame), MODEL).read_frame()


def test_another_protocol_version_and_an_unexpected_kind_are_named():
    frame = bytearray(encode(FrameKind.READY, MODEL, b""))
    frame[4] = PROTOCOL_VERSION + 1
    with pytest.raises(BoardLinkError, match=f"protocol version {PROTOCOL_VERSION + 1}"):
        FrameReader(_source(bytes(frame)), MODEL).read_frame()
    with pytest.raises(BoardLinkError, match="sent a READY frame where a OUTPUT frame was due"):
        FrameReader(_source(encode(FrameKind.READY, MODEL, b"")), MODEL).expect(FrameKind.OUTPUT)
    assert issubclass(BoardLinkError, Stm32DvfsError)


def test_encode_refuses_what_no_frame_can_carry():
    with pytest.raises(ValueError, match="8 bytes"):
        encode(FrameKind.INPUT, b"short", b"")


def test_the_firmwares_frames_decode_on_the_host(tmp_path, tool):
    """runtime/src/stm32dvfs_frame.c (compiled for the host, sanitized, and for the Cortex-M7
    with the firmware's flags) writes frames the host's reader accepts, its CRC zlib's."""
    import subprocess
    import zlib

    import numpy as np

    from tvm_stm32dvfs.resources import data_dir
    from tvm_stm32dvfs.vocabulary import CFLAGS, CORE_FLAGS

    runtime = data_dir("runtime")

    tool("gcc")
    payloads = [b"", bytes(range(256)) * 3, np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes()]
    arrays = "\n".join(f"static const uint8_t p{i}[] = {{{', '.join(str(b) for b in p) or '0'}}};"
                       for i, p in enumerate(payloads))
    calls = "\n".join(f"  stm32dvfs_frame_write(put, STM32DVFS_FRAME_OUTPUT, hash, p{i}, {len(p)}u);"
                      for i, p in enumerate(payloads))
    crc_checks = "\n".join(f'  printf("%08lx\\n", (unsigned long)stm32dvfs_crc32(0u, p{i}, {len(p)}u));'
                           for i, p in enumerate(payloads))
    hash_bytes = ", ".join(str(b) for b in MODEL)
    (tmp_path / "main.c").write_text(f"""
#include <stdio.h>
#include <stdint.h>
#include "stm32dvfs_frame.h"
{arrays}
static FILE* out;
static void put(uint8_t c) {{ (void)fputc(c, out); }}
int main(int argc, char** argv) {{
  (void)argc;
  static const uint8_t hash[8] = {{{hash_bytes}}};
  out = fopen(argv[1], "wb");
  fputs("boot text\\n", out);
{calls}
  fclose(out);
{crc_checks}
  return 0;
}}
""")
    exe = tmp_path / "frames"
    subprocess.run(["gcc", "-O1", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", "-I", str(runtime / "include"), str(tmp_path / "main.c"),
                    str(runtime / "src" / "stm32dvfs_frame.c"), "-o", str(exe)], check=True)
    proc = subprocess.run([str(exe), str(tmp_path / "frames.bin")], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == [f"{zlib.crc32(p):08x}" for p in payloads]
    reader = FrameReader(_source((tmp_path / "frames.bin").read_bytes(), 64), MODEL, timeout_s=5)
    assert [reader.expect(FrameKind.OUTPUT).payload for _ in payloads] == payloads
    assert bytes(reader.skipped) == b"boot text\n"
    tool("arm-none-eabi-gcc")
    subprocess.run(["arm-none-eabi-gcc", *CORE_FLAGS["cortex-m7"], *CFLAGS, "-I", str(runtime / "include"), "-c",
                    str(runtime / "src" / "stm32dvfs_frame.c"), "-o", str(tmp_path / "frame.o")], check=True)
