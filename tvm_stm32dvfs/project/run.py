"""Host-driven runs on a board: export the firmware project, build its link application with
CMake, flash it, send inputs over the serial port and read the outputs, the status, the clock
switches and (profiling) the cycles per layer and phase; compare the outputs with the host
build. ``platform="qemu"`` runs the same project's QEMU build behind a pseudo-terminal instead of
a board, through the same reader: the loop, tested without a board.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import BoardLinkError
from ..files import write_text_atomically
from ..sim.calibrate import MeasuredRow, parse_measurements
from .build import PLATFORMS, build_link_firmware
from .flash import find_probe, flash
from .link import Link, QemuLink, SerialLink


@dataclass(frozen=True)
class BoardRun:
    """What a run on a board (or QEMU) gave, per input sent."""

    board: str
    platform: str  # "board" or "qemu"
    port: str
    probe: str | None  # the flashing tool (None on QEMU)
    outputs: list[list[np.ndarray]]
    host_outputs: list[list[np.ndarray]]  # the host build's outputs for the same inputs
    status: list[int]  # the firmware's status per inference (0: STM32DVFS_OK)
    clock_switches: list[int]  # clock switches the plan made per inference
    #: per inference, the cycles per layer and phase as the CSV ``stm32dvfs calibrate`` reads
    #: (a profiling run), else empty
    csv: list[str] = field(default_factory=list)

    @property
    def matches_host(self) -> list[bool]:
        return [len(b) == len(h) and all(np.array_equal(x, y) for x, y in zip(b, h))
                for b, h in zip(self.outputs, self.host_outputs)]

    @property
    def failed(self) -> list[int]:
        """The inferences whose status is not 0 or whose outputs differ from the host build."""
        return [i for i, (status, same) in enumerate(zip(self.status, self.matches_host)) if status != 0 or not same]

    @property
    def ok(self) -> bool:
        """Every inference ran without error and equals the host build."""
        return not self.failed

    def measurements(self, inference: int = 0) -> list[MeasuredRow]:
        """The cycles of one inference, per layer and phase (a profiling run)."""
        if not self.csv:
            raise BoardLinkError("this run was not profiled: run with profile=True (--profile)")
        return parse_measurements(self.csv[inference], f"the cycles of inference {inference} from {self.port}")

    def write_csv(self, path: Path, inference: int = 0) -> Path:
        """The cycles of one inference (by default the first, on the sample input that
        ``stm32dvfs calibrate`` emulates) as the calibration CSV, written atomically."""
        self.measurements(inference)  # a profiling run, and a CSV that parses
        header = (f"# {self.board} ({self.platform} on {self.port}): cycles per layer and phase of inference "
                  f"{inference}, from stm32dvfs run\n")
        return write_text_atomically(Path(path), header + self.csv[inference])


def _as_inputs(x) -> list:
    return [x] if isinstance(x, (np.ndarray, dict)) else list(x)


def run_on_board(compiled, x, *, port: str | None = None, probe: str | None = None, platform: str = "board",
                 profile: bool = False, flash_firmware: bool = True, timeout_s: float = 60.0,
                 progress: Callable[[str], None] | None = None) -> BoardRun:
    """Run ``compiled`` on its board: one inference per input of ``x`` (a sequence of inputs,
    each as ``CompiledModel.run_host`` takes; a single ndarray or dict is one input), all through
    one flash and one boot.

    ``port``: the board's serial port (its ST-LINK virtual COM port, e.g. /dev/ttyACM0);
    ``probe``: openocd, pyocd or st-flash (default: the first installed); ``platform="qemu"``:
    the project's QEMU build in place of the board (no port, no probe). ``profile``: a profiling
    build, whose cycles per layer and phase come back with every answer (``BoardRun.csv``).
    ``flash_firmware=False``: the board already runs this model's link firmware (flashed by an
    earlier run): no build, no flash; the host asks it to announce itself.
    ``progress``: called with a line per step. Bad ports, a missing probe, a board that does not
    answer or runs another firmware, and a firmware too big for the board are one-line
    :class:`~tvm_stm32dvfs.errors.Stm32DvfsError` s."""
    from ..boards import load

    if platform not in PLATFORMS:
        raise BoardLinkError(f"unknown platform {platform!r}: use {' or '.join(PLATFORMS)}")
    if not flash_firmware and platform != "board":
        raise BoardLinkError("running without flashing is for a board: QEMU boots the firmware it builds every run")
    say = progress or (lambda _line: None)
    inputs = _as_inputs(x)
    if not inputs:
        raise BoardLinkError("no inputs to send: give at least one")
    arrays = [compiled._input_arrays(one) for one in inputs]  # wrong inputs fail before any build
    board = load(compiled.board)
    probe_name = None
    link: Link | None = None
    with tempfile.TemporaryDirectory(prefix="stm32dvfs-run-") as tmp:
        try:
            if platform == "board":
                if board.data.console is None:
                    raise BoardLinkError(f"{board.name}'s board file names no console: the link needs its [console]")
                if port is None:
                    raise BoardLinkError("pass the board's serial port (--port): its ST-LINK virtual COM port, "
                                         "e.g. /dev/ttyACM0")
                if profile and "plan.c" not in compiled.sources.files:
                    # the CSV names each phase's clock state, which only a plan table tells the firmware
                    raise BoardLinkError("profiling on a board needs the clock state of every phase: build with "
                                         "latency_ms= (--latency-ms) or run compiled.at_clock_state(state)")
                if flash_firmware:
                    probe_name, _ = find_probe(probe)  # before the build: a missing tool fails fast
                link = SerialLink(compiled, port, profile, timeout_s, baud=board.data.console.baud)
            if not flash_firmware:
                say(f"asking the firmware on {port} to announce itself")
                link.hello()
            else:
                link = _flash_and_start(compiled, board, link, platform, probe_name, profile, timeout_s, Path(tmp), say)
            answers = []
            for i, one in enumerate(arrays):
                say(f"inference {i + 1} of {len(arrays)}")
                answers.append(link.infer(one))
        finally:
            if link is not None:
                link.close()
    host = []
    for one in arrays:
        out = compiled.run_host(one)
        host.append(list(out) if isinstance(out, list) else [out])
    return BoardRun(board=board.name, platform=platform, port=link.port if platform == "qemu" else port,
                    probe=probe_name, outputs=[a.outputs for a in answers], host_outputs=host,
                    status=[a.status for a in answers], clock_switches=[a.clock_switches for a in answers],
                    csv=[a.csv for a in answers] if profile else [])


def _flash_and_start(compiled, board, link, platform, probe_name, profile, timeout_s, tmp: Path, say) -> Link:
    """Export and build the link firmware; flash it and wait for the board's READY (``link``:
    its port, open), or start it in QEMU. The link, ready."""
    say(f"exporting and building the {platform} firmware")
    elf = build_link_firmware(compiled, tmp, platform, profile)
    if platform == "board":
        say(f"flashing {board.name} with {probe_name}")
        link.discard_input()
        flash(elf, board, probe_name)
        link.ready()
        return link
    say("starting QEMU")
    return QemuLink(compiled, timeout_s, elf=elf, profile=profile).__enter__()
