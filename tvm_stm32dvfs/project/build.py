"""Building an exported firmware project with CMake, as a user would: configure, build, and turn
the failures a user can fix into one-line errors (a tool missing, the firmware too big for the
board's flash or RAM)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..errors import ResourceLimitError, ToolchainError
from ..sim.qemu import find_tool

#: STM32DVFS_PLATFORM of the project's CMakeLists per platform name of the API
PLATFORMS = {"board": "board", "qemu": "qemu-mps2-an500"}
BUILD_TIMEOUT_S = 1800

# GNU ld: "region `FLASH' overflowed by 1234 bytes", after "will not fit in region `FLASH'"
_OVERFLOW = re.compile(r"region [`']?(\w+)'? overflowed by (\d+) bytes")
_NOT_FIT = re.compile(r"will not fit in region [`']?(\w+)'?")


def build_project(project: Path, platform: str = "board", link: bool = False, profile: bool = False,
                  board_name: str = "the board") -> Path:
    """Configure and build the project in ``project`` for ``platform`` ("board" or "qemu") in
    ``project/build-<platform>``; the firmware ELF's path. ``link``: the link application
    (``stm32dvfs run``); ``profile``: with the cycle counts per layer and phase."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}: one of {', '.join(PLATFORMS)}")
    cmake = find_tool("cmake", "cmake")
    find_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")  # the toolchain file names it
    build = project / f"build-{platform}"
    configure = [cmake, "-S", str(project), "-B", str(build), "-DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake",
                 f"-DSTM32DVFS_PLATFORM={PLATFORMS[platform]}", f"-DSTM32DVFS_LINK={'ON' if link else 'OFF'}",
                 f"-DSTM32DVFS_PROFILE={'ON' if profile else 'OFF'}"]
    for cmd in (configure, [cmake, "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=project, timeout=BUILD_TIMEOUT_S)
        if proc.returncode != 0:
            log = proc.stdout + proc.stderr
            overflow = _OVERFLOW.search(log) or _NOT_FIT.search(log)
            if overflow:
                region = overflow.group(1)
                by = f" by {overflow.group(2)} B" if overflow.re is _OVERFLOW else ""
                raise ResourceLimitError(f"the firmware does not fit {board_name}'s {region}{by} (linker): use "
                                         "smaller DAE tiles, fewer parameters or a board with more memory")
            errors = [line for line in log.splitlines() if "error" in line.lower()]
            raise ToolchainError(f"the firmware project did not build ({' '.join(cmd[:2])}): "
                                 f"{(errors or log.strip().splitlines() or ['no output'])[0].strip()}")
    return build / "firmware.elf"


def build_link_firmware(compiled, work: Path, platform: str = "board", profile: bool = False) -> Path:
    """Export the project of ``compiled`` into ``work/project`` and build its link application
    (what ``stm32dvfs run`` flashes, or starts in QEMU) for ``platform``; the ELF's path."""
    project = work / "project"
    compiled.export_project(project)
    return build_project(project, platform, link=True, profile=profile, board_name=compiled.board)
