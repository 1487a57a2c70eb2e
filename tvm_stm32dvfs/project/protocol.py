"""The framed protocol between the host and a board's firmware over its serial console.

Every message is one frame, in both directions:

    offset  size  field
    0       4     magic b"S3DV"
    4       1     protocol version (PROTOCOL_VERSION)
    5       1     kind (FrameKind)
    6       8     model hash (:func:`model_hash`: the firmware's model)
    14      4     payload length, little-endian
    18      n     payload
    18+n    4     CRC-32 (IEEE 802.3, as zlib.crc32) of bytes 4 .. 18+n, little-endian

The console may carry other text (the firmware's start-up lines): a reader skips bytes up to the
next magic. A frame with a bad CRC, one that ends before its length, one of another protocol
version or one from a firmware built for another model is a :class:`BoardLinkError` naming what
happened and what to do, never data: a wrong firmware, a different model or a garbled line must
not pass as a result.
"""

from __future__ import annotations

import enum
import hashlib
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Callable

from ..errors import BoardLinkError

MAGIC = b"S3DV"
PROTOCOL_VERSION = 1
_HEADER = struct.Struct("<4sBB8sI")  # magic, version, kind, model hash, payload length
_CRC = struct.Struct("<I")
#: the largest payload a frame carries (an input or output tensor of the bundled models is far
#: smaller; a longer length field is garbage, not a frame to wait for)
MAX_PAYLOAD = 1 << 20


class FrameKind(enum.IntEnum):
    INPUT = 1  # host -> board: one input tensor, bytes in the model's input order
    OUTPUT = 2  # board -> host: one output tensor
    REPORT = 3  # board -> host: the run's status, clock switches and (profiling) cycles, as text
    READY = 4  # board -> host: the firmware is up and waits for inputs


def model_hash(files: dict[str, str]) -> bytes:
    """The 8-byte identity of a firmware's model: SHA-256 of its generated sources (names and
    text, sorted), truncated. Two builds of the same model, tiles and plan agree; anything else
    differs."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.digest()[:8]


@dataclass(frozen=True)
class Frame:
    kind: FrameKind
    model: bytes
    payload: bytes


def encode(kind: FrameKind, model: bytes, payload: bytes) -> bytes:
    """One frame's bytes."""
    if len(model) != 8:
        raise ValueError(f"a model hash has 8 bytes, not {len(model)}")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a payload of {len(payload)} bytes is over the protocol's {MAX_PAYLOAD}")
    body = _HEADER.pack(MAGIC, PROTOCOL_VERSION, int(kind), model, len(payload))[4:] + payload
    return MAGIC + body + _CRC.pack(zlib.crc32(body))


class FrameReader:
    """Frames from a byte source (``read(n)`` returns up to ``n`` bytes, b"" when none came in
    its own timeout: a pyserial port, a socket wrapper), each checked against ``model``."""

    def __init__(self, read: Callable[[int], bytes], model: bytes, timeout_s: float = 10.0,
                 where: str = "the board") -> None:
        self._read = read
        self.model = model
        self.timeout_s = timeout_s
        self.where = where
        self._buffer = bytearray()
        self.skipped = bytearray()  # what came before the frames (the firmware's text lines)

    def _fill(self, n: int, deadline: float, what: str) -> None:
        while len(self._buffer) < n:
            if time.monotonic() > deadline:
                raise BoardLinkError(f"{self.where} sent no complete {what} within {self.timeout_s:g} s "
                                     f"({len(self._buffer)} of {n} bytes): is the firmware running and the port right?")
            chunk = self._read(n - len(self._buffer))
            if chunk:
                self._buffer += chunk

    def read_frame(self) -> Frame:
        """The next frame; text before it is kept in ``skipped``."""
        deadline = time.monotonic() + self.timeout_s
        while True:  # up to the magic
            self._fill(len(MAGIC), deadline, "frame header")
            at = self._buffer.find(MAGIC)
            if at == 0:
                break
            keep = at if at > 0 else len(self._buffer) - (len(MAGIC) - 1)
            self.skipped += self._buffer[:keep]
            del self._buffer[:keep]
        self._fill(_HEADER.size, deadline, "frame header")
        _, version, kind, model, length = _HEADER.unpack(bytes(self._buffer[:_HEADER.size]))
        if version != PROTOCOL_VERSION:
            raise BoardLinkError(f"{self.where} speaks protocol version {version}, this host {PROTOCOL_VERSION}: "
                                 "rebuild and flash the firmware with this version of tvm-stm32dvfs")
        if length > MAX_PAYLOAD:
            raise BoardLinkError(f"garbled frame from {self.where}: a payload length of {length} bytes "
                                 "(a noisy link? check the baud rate and the cable)")
        total = _HEADER.size + length + _CRC.size
        self._fill(total, deadline, f"frame of {length} payload bytes")
        frame = bytes(self._buffer[:total])
        del self._buffer[:total]
        (crc,) = _CRC.unpack(frame[-_CRC.size:])
        if crc != zlib.crc32(frame[len(MAGIC):-_CRC.size]):
            raise BoardLinkError(f"garbled frame from {self.where}: its CRC does not match (a noisy link? check "
                                 "the baud rate and the cable)")
        try:
            kind = FrameKind(kind)
        except ValueError:
            raise BoardLinkError(f"{self.where} sent a frame of unknown kind {kind}") from None
        if model != self.model:
            raise BoardLinkError(f"{self.where} runs another model (hash {model.hex()}, expected "
                                 f"{self.model.hex()}): flash the firmware of this model")
        return Frame(kind, model, frame[_HEADER.size:-_CRC.size])

    def discard(self) -> None:
        """Drop the bytes buffered and not yet read as a frame."""
        self._buffer.clear()

    def expect(self, kind: FrameKind) -> Frame:
        """The next frame, which must be of ``kind``."""
        frame = self.read_frame()
        if frame.kind != kind:
            raise BoardLinkError(f"{self.where} sent a {frame.kind.name} frame where a {kind.name} frame was due")
        return frame
