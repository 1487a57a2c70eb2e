"""Flashing a built firmware onto a board through its ST-LINK, with the tool the user has:
OpenOCD, pyOCD or stlink-tools' st-flash. Each programs, verifies and resets the board (the reset
starts the firmware, whose READY frame the host then reads)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..errors import BoardLinkError, ToolchainError
from .firmware import OPENOCD

#: the probes, in the order one is picked when none is named; the Debian package of each
PROBES = {"openocd": "openocd", "st-flash": "stlink-tools", "pyocd": "pyocd (pip install pyocd)"}
FLASH_TIMEOUT_S = 300


def find_probe(probe: str | None) -> tuple[str, str]:
    """(probe name, path of its tool): ``probe`` if given, else the first installed."""
    if probe is not None and probe not in PROBES:
        raise ToolchainError(f"unknown probe {probe!r}: use {', '.join(PROBES)}")
    for name in [probe] if probe is not None else list(PROBES):
        path = shutil.which(name)
        if path is not None:
            return name, path
    if probe is not None:
        raise ToolchainError(f"{probe} is not installed: install {PROBES[probe]}, or pass another --probe "
                             f"({', '.join(p for p in PROBES if p != probe)})")
    raise ToolchainError("no flashing tool found: install openocd (apt-get install openocd), stlink-tools or pyocd")


def flash_command(probe: str, tool: str, elf: Path, board) -> list[str]:
    """The command that programs ``elf`` into ``board``, verifies it and resets the board."""
    if probe == "openocd":
        config = OPENOCD.get(board.name)
        if config is None:
            raise ToolchainError(f"no OpenOCD board configuration is known for {board.name}: pass --probe st-flash")
        return [tool, "-f", f"board/{config}", "-c", f"program {elf} verify reset exit"]
    if probe == "pyocd":
        # no --target: pyOCD names the target from the board ID the ST-LINK of a Nucleo or
        # Discovery board reports (its part names depend on the CMSIS packs installed)
        return [tool, "flash", str(elf)]
    flash = board.regions["flash"]
    return [tool, "--reset", "write", str(elf.with_name("firmware.bin")), f"{flash.origin:#x}"]


def flash(elf: Path, board, probe: str | None = None) -> str:
    """Program ``elf`` (its ``firmware.bin`` beside it for st-flash) into the board attached;
    the probe used."""
    name, tool = find_probe(probe)
    cmd = flash_command(name, tool, Path(elf), board)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=FLASH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BoardLinkError(f"{name} did not finish flashing within {FLASH_TIMEOUT_S} s: is the board connected "
                             "over its ST-LINK USB port?") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        reason = next((line for line in reversed(lines) if "rror" in line), lines[-1] if lines else "no output")
        raise BoardLinkError(f"{name} could not flash {board.name} (exit {proc.returncode}): {reason} — is the "
                             "board connected over its ST-LINK USB port?")
    return name
