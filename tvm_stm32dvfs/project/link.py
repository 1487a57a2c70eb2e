"""The host end of the board link (:mod:`.protocol`), and the QEMU firmware behind it.

:class:`QemuLink` builds the model's QEMU firmware with the link main (``qemu_link_main.c.j2``:
the protocol on the mps2-an500's UART) and starts QEMU with that UART on a pseudo-terminal
(``-serial pty``), the way a board's ST-LINK puts its console on /dev/ttyACM0: inputs go in as
frames, outputs and a report come back, so one boot serves many inputs, and the host reads it
with the reader a board is read with.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import BoardLinkError
from ..sim.qemu import QEMU_MACHINE, build_firmware, find_tool
from .protocol import FrameKind, FrameReader, encode, model_hash


#: the reasons of a REPORT "error E" (stm32dvfs_frame_error of runtime/include/stm32dvfs_frame.h)
FRAME_ERRORS = {1: "an input frame arrived garbled (CRC)", 2: "an input frame of another protocol version",
                3: "an input frame for another model", 4: "a frame of another kind where an input was due",
                5: "an input of the wrong length"}


class QemuLink:
    """The QEMU firmware of ``compiled`` behind a pseudo-terminal, speaking the board protocol.

    ``with QemuLink(compiled) as link: outputs, status = link.infer(x)``; ``link.port`` is the
    pseudo-terminal's path, ``link.write`` sends raw bytes (for fault injection). ``firmware``:
    the model whose firmware QEMU runs, when it is not ``compiled`` (a port with the wrong
    firmware behind it)."""

    def __init__(self, compiled, timeout_s: float = 60.0, firmware=None) -> None:
        self.compiled = compiled
        self.firmware = firmware if firmware is not None else compiled
        self.timeout_s = timeout_s
        self.model = model_hash(compiled.sources.files)
        self._tmp = tempfile.TemporaryDirectory(prefix="stm32dvfs-qemu-link-")
        self._process = None
        self._fd = None

    def __enter__(self) -> "QemuLink":
        import os
        import tty

        qemu = find_tool("qemu-system-arm", "qemu-system-arm")
        try:
            elf = build_firmware(self.firmware, "qemu_link_main.c.j2", Path(self._tmp.name),
                                 inputs=[{"nbytes": i.nbytes} for i in self.firmware.inputs],
                                 hash=", ".join(str(b) for b in model_hash(self.firmware.sources.files)))
            self._process = subprocess.Popen(
                [qemu, "-M", QEMU_MACHINE, "-display", "none", "-monitor", "none", "-semihosting",
                 "-serial", "pty", "-kernel", str(elf)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.port = self._pty_path()
            self._fd = os.open(self.port, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(self._fd)
            self.reader = FrameReader(self._read, self.model, self.timeout_s, where=f"the QEMU firmware on {self.port}")
            self.reader.expect(FrameKind.READY)
        except BaseException:
            self.close()
            raise
        return self

    def _pty_path(self) -> str:
        """QEMU names the pseudo-terminal on its output: "char device redirected to /dev/pts/N"."""
        for line in self._process.stdout:
            if "redirected to" in line:
                return line.split("redirected to", 1)[1].split()[0]
        raise BoardLinkError(f"QEMU exited ({self._process.wait()}) without opening its serial port")

    def _read(self, n: int) -> bytes:
        import os
        import select

        ready, _, _ = select.select([self._fd], [], [], 0.1)
        return os.read(self._fd, n) if ready else b""

    def write(self, data: bytes) -> None:
        import os

        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def infer(self, x) -> tuple[list[np.ndarray], int]:
        """One inference: ``x`` as for ``CompiledModel.run_host``; the outputs and the firmware's
        status."""
        for array in self.compiled._input_arrays(x):
            self.write(encode(FrameKind.INPUT, self.model, array.tobytes()))
        return self.answer()

    def answer(self) -> tuple[list[np.ndarray], int]:
        """The firmware's answer to the inputs sent: its outputs and status."""
        outputs = []
        for spec in self.compiled.outputs:
            frame = self.reader.read_frame()
            if frame.kind == FrameKind.REPORT:
                word, _, value = frame.payload.decode().partition(" ")
                if word == "error":
                    reason = FRAME_ERRORS.get(int(value), f"frame error {value}")
                    raise BoardLinkError(f"the firmware refused the input: {reason}")
            if frame.kind != FrameKind.OUTPUT or len(frame.payload) != spec.nbytes:
                raise BoardLinkError(f"the firmware answered with a {frame.kind.name} frame of {len(frame.payload)} "
                                     f"bytes where output {len(outputs)} ({spec.nbytes} bytes) was due")
            outputs.append(np.frombuffer(frame.payload, dtype=spec.dtype).reshape(spec.shape).copy())
        word, _, value = self.reader.expect(FrameKind.REPORT).payload.decode().partition(" ")
        if word != "status":
            raise BoardLinkError(f"the firmware's report is '{word} {value}', not its status")
        return outputs, int(value)

    def close(self) -> None:
        import os

        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process.stdout.close()
            self._process = None
        self._tmp.cleanup()

    def __exit__(self, *exc) -> None:
        self.close()
