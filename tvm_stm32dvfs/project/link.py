"""The host end of the board link (:mod:`.protocol`): a board's ST-LINK serial port, or the QEMU
firmware standing in for it.

The firmware is the project's link application (``app/link.c``, built with
``-DSTM32DVFS_LINK=ON``): it announces itself with a READY frame, then answers every set of input
frames with its outputs and a report. :class:`SerialLink` opens a board's port with pyserial;
:class:`QemuLink` starts QEMU with the same application's QEMU build and its UART on a
pseudo-terminal (``-serial pty``), the way a board's ST-LINK puts its console on /dev/ttyACM0.
Both read with the same :class:`~.protocol.FrameReader`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BoardLinkError
from ..sim.qemu import QEMU_MACHINE, find_tool
from .build import build_link_firmware
from .protocol import FrameKind, FrameReader, encode, model_hash


#: the reasons of a REPORT "error E" (stm32dvfs_frame_error of runtime/include/stm32dvfs_frame.h)
FRAME_ERRORS = {1: "an input frame arrived garbled (CRC)", 2: "an input frame of another protocol version",
                3: "an input frame for another model", 4: "a frame of another kind where an input was due",
                5: "an input of the wrong length", 6: "a READY frame where an input was due"}
#: QEMU's -icount shift under which an instruction takes one period of the mps2-an500's 25 MHz
#: SYSCLK (2^5 ns = 32 ns; SysTick then counts 0.8 per instruction): the profiling cycles are
#: deterministic
QEMU_ICOUNT_SHIFT = 5


@dataclass(frozen=True)
class Answer:
    """The firmware's answer to one set of inputs."""

    outputs: list[np.ndarray]
    status: int
    clock_switches: int
    #: the cycles per layer and phase of this inference, as the CSV ``stm32dvfs calibrate`` reads
    #: (a profiling firmware), else None
    csv: str | None = None


class Link:
    """Frames to and from the link application of ``compiled``. Subclasses provide ``_read(n)``
    (up to ``n`` bytes, b"" after a short wait) and ``write(data)``; ``profile``: the firmware is
    expected to be a profiling build, whose answers end with the cycles (its READY frame says
    whether it is)."""

    where = "the board"

    def __init__(self, compiled, profile: bool = False, timeout_s: float = 60.0) -> None:
        self.compiled = compiled
        self.profile = profile
        self.model = model_hash(compiled.sources.files)
        self.firmware_profiles = profile  # until its READY frame says
        self.reader = FrameReader(self._read, self.model, timeout_s, where=self.where)

    def _read(self, n: int) -> bytes:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def ready(self) -> None:
        """Wait for the firmware's READY frame: it checks the firmware's model, and says whether
        it is a profiling build."""
        announced = self.reader.expect(FrameKind.READY).payload.decode(errors="replace")
        if announced not in ("profile 0", "profile 1"):
            raise BoardLinkError(f"{self.where} announced '{announced[:40]}', not a link firmware of this version: "
                                 "flash it again")
        self.firmware_profiles = announced == "profile 1"
        if self.profile and not self.firmware_profiles:
            raise BoardLinkError(f"{self.where} runs a build of this model without profiling: flash the profiling "
                                 "build (run with the board flashed, not --no-flash)")

    def hello(self) -> None:
        """Ask a firmware flashed before to announce itself (a READY frame to it), and read its
        READY: reconnecting without flashing."""
        self.write(encode(FrameKind.READY, self.model, b""))
        self.ready()

    def infer(self, x) -> Answer:
        """One inference: ``x`` as for ``CompiledModel.run_host``."""
        for array in self.compiled._input_arrays(x):
            self.write(encode(FrameKind.INPUT, self.model, array.tobytes()))
        return self.answer()

    def _report(self) -> str:
        return self.reader.expect(FrameKind.REPORT).payload.decode(errors="replace")

    def answer(self) -> Answer:
        """The firmware's answer to the inputs sent."""
        outputs = []
        for spec in self.compiled.outputs:
            frame = self.reader.read_frame()
            if frame.kind == FrameKind.REPORT:
                word, _, value = frame.payload.decode(errors="replace").partition(" ")
                if word == "error":
                    reason = FRAME_ERRORS.get(int(value), f"frame error {value}")
                    raise BoardLinkError(f"the firmware refused the input: {reason}")
            if frame.kind != FrameKind.OUTPUT or len(frame.payload) != spec.nbytes:
                raise BoardLinkError(f"{self.where} answered with a {frame.kind.name} frame of {len(frame.payload)} "
                                     f"bytes where output {len(outputs)} ({spec.nbytes} bytes) was due: is it "
                                     "the link build of this model?")
            outputs.append(np.frombuffer(frame.payload, dtype=spec.dtype).reshape(spec.shape).copy())
        report = self._report()
        fields = report.split()
        if len(fields) != 4 or fields[0] != "status" or fields[2] != "switches":
            raise BoardLinkError(f"{self.where}'s report is '{report[:40]}', not 'status S switches N'")
        csv = None
        if self.firmware_profiles:
            report = self._report()
            if not report.startswith("csv\n"):
                raise BoardLinkError(f"{self.where} sent no cycles after its status: is it a profiling build "
                                     "(-DSTM32DVFS_PROFILE=ON)?")
            csv = report[len("csv\n"):]
        return Answer(outputs, int(fields[1]), int(fields[3]), csv if self.profile else None)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialLink(Link):
    """A board's serial port (the ST-LINK virtual COM port), opened with pyserial at ``baud``
    (the board file's console rate). The board must be reset after the port opened (flashing
    does), so that its READY frame is read: ``link.ready()``."""

    def __init__(self, compiled, port: str, profile: bool = False, timeout_s: float = 60.0, baud: int = 115200) -> None:
        try:
            import serial
        except ImportError:
            raise BoardLinkError("pyserial is not installed: pip install pyserial (make deps does)") from None
        self.where = f"the board on {port}"
        super().__init__(compiled, profile, timeout_s)
        self.port = port
        if not Path(port).exists() and not port.startswith(("COM", "socket://", "rfc2217://")):
            raise BoardLinkError(f"no such serial port {port}: is the board plugged in? (its ST-LINK port is "
                                 "usually /dev/ttyACM0; ls /dev/ttyACM*)")
        try:
            self._serial = serial.serial_for_url(port, baudrate=baud, timeout=0.1)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise BoardLinkError(f"cannot open serial port {port}: {exc} (another program holding it? "
                                 "permission: add yourself to the dialout group)") from None
        self._serial.reset_input_buffer()

    def discard_input(self) -> None:
        """Forget what arrived so far (before flashing: an old firmware's frames are not the
        new one's)."""
        self._serial.reset_input_buffer()
        self.reader.discard()

    def _read(self, n: int) -> bytes:
        return self._serial.read(n)

    def write(self, data: bytes) -> None:
        self._serial.write(data)
        self._serial.flush()

    def close(self) -> None:
        if getattr(self, "_serial", None) is not None:
            self._serial.close()
            self._serial = None


class QemuLink(Link):
    """The QEMU build of the link application of ``compiled`` behind a pseudo-terminal.

    ``with QemuLink(compiled) as link: answer = link.infer(x)``; ``link.port`` is the
    pseudo-terminal's path, ``link.write`` sends raw bytes (for fault injection). ``elf``: a QEMU
    link firmware already built (else it is built here from the exported project, of
    ``firmware`` when that is given: a port with another model's firmware behind it). With
    ``profile`` QEMU counts instructions (``-icount``), so the cycles it reports are exact."""

    def __init__(self, compiled, timeout_s: float = 60.0, firmware=None, elf: Path | None = None,
                 profile: bool = False) -> None:
        self.where = "the QEMU firmware"
        super().__init__(compiled, profile, timeout_s)
        self.firmware = firmware if firmware is not None else compiled
        self.elf = elf
        self._tmp = None
        self._process = None
        self._fd = None

    def __enter__(self) -> "QemuLink":
        import tty

        qemu = find_tool("qemu-system-arm", "qemu-system-arm")
        try:
            if self.elf is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="stm32dvfs-qemu-link-")
                self.elf = build_link_firmware(self.firmware, Path(self._tmp.name), "qemu", self.profile)
            icount = ["-icount", f"shift={QEMU_ICOUNT_SHIFT}"] if self.profile else []
            self._process = subprocess.Popen(
                [qemu, "-M", QEMU_MACHINE, "-display", "none", "-monitor", "none", "-semihosting", *icount,
                 "-serial", "pty", "-kernel", str(self.elf)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.port = self._pty_path()
            self.where = self.reader.where = f"the QEMU firmware on {self.port}"
            self._fd = os.open(self.port, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(self._fd)
            self.ready()
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
        import select

        ready, _, _ = select.select([self._fd], [], [], 0.1)
        return os.read(self._fd, n) if ready else b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process.stdout.close()
            self._process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
