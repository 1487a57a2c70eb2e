"""The firmware project of a compiled model: CMake, model sources, runtime, board support and an
application, for the board, QEMU (mps2-an500) and the host — what a user builds and flashes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from .._version import __version__
from ..vocabulary import CORE_FLAGS, STACK_BYTES
from ..resources import data_dir, templates
from ..csources import CSources
from .protocol import model_hash

#: openocd board configurations shipped with openocd
OPENOCD = {"stm32f746g-disco": "stm32f746g-disco.cfg", "nucleo-f767zi": "st_nucleo_f7.cfg",
           "nucleo-h743zi2": "st_nucleo_h743zi.cfg", "nucleo-l4r5zi": "st_nucleo_l4.cfg",
           "nucleo-f411re": "st_nucleo_f4.cfg"}


def project_files(sources: CSources, board, model_name: str, inputs: Sequence[np.ndarray], output_bytes: Sequence[int],
                  layers: int, arena_bytes: int, weights_bytes: int, repeat: int = 10) -> dict[str, str]:
    """Every file of the project: relative path -> text."""
    env = templates("project")
    ram_origin, ram_bytes = board.memory_map.ram_origin, board.memory_map.ram_bytes
    flash = board.regions["flash"]
    ctx = {
        "model_name": model_name, "version": __version__, "board": board.name, "mcu": board.mcu,
        "family": board.data.family, "cpu_flags": CORE_FLAGS[board.core], "repeat": repeat,
        "flash_origin": flash.origin, "flash_bytes": flash.bytes, "ram_origin": ram_origin, "ram_bytes": ram_bytes,
        "stack_bytes": STACK_BYTES, "openocd_config": OPENOCD.get(board.name, "stm32.cfg"),
        "inputs": [{"nbytes": a.nbytes, "bytes": ", ".join(str(b) for b in a.tobytes())} for a in inputs],
        "outputs": [{"nbytes": n} for n in output_bytes],
        "num_layers": layers, "arena_bytes": arena_bytes, "weights_bytes": weights_bytes,
        "has_plan": "plan.c" in sources.files, "has_console": board.data.console is not None,
        "plan_states": len(re.findall(r"^  /\* \d+: ", sources.files.get("plan.c", ""), re.M)),
    }
    files = {f"model/{name}": text for name, text in sources.files.items()}
    files["CMakeLists.txt"] = env.get_template("CMakeLists.txt.j2").render(**ctx)
    files["README.md"] = env.get_template("README.md.j2").render(**ctx)
    files["app/main.c"] = env.get_template("main.c.j2").render(**ctx)
    files["app/link.c"] = env.get_template("link.c.j2").render(
        **ctx, hash=", ".join(str(b) for b in model_hash(sources.files)))
    files[f"board/{board.name}.ld"] = env.get_template("board.ld.j2").render(**ctx)
    runtime = data_dir("runtime")
    files["board/startup.c"] = (runtime / "board" / "startup.c").read_text()
    for name in ("stm32dvfs_board_io.h", "stm32dvfs_board_io.c"):
        files[f"board/{name}"] = (runtime / "board" / name).read_text()
    console = board.data.console
    files["board/board_io_config.h"] = env.get_template("board_io_config.h.j2").render(
        board=board.name, version=__version__, marker=board.data.marker,
        console=None if console is None else {"peripheral": console.peripheral, "tx": console.tx, "rx": console.rx,
                                               "baud": console.baud,
                                               "source": f"{console.peripheral}, TX {console.tx.name} AF{console.tx.af}, "
                                                         f"RX {console.rx.name} AF{console.rx.af}"})
    for name in ("include/stm32dvfs_frame.h", "include/stm32dvfs_link.h", "src/stm32dvfs_frame.c",
                 "board/stm32dvfs_link_board.c"):
        files[f"link/{Path(name).name}"] = (runtime / name).read_text()
    for name in ("stm32dvfs_link_qemu.c", "startup_qemu.c", "mps2_an500.ld"):
        files[f"platform/qemu/{name}"] = (runtime / "qemu" / name).read_text()
    files["cmake/arm-none-eabi.cmake"] = (data_dir("cmake") / "arm-none-eabi.cmake").read_text()
    return files
