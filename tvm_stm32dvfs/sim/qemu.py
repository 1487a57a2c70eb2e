"""A second, independent emulator: the model as stand-alone firmware under QEMU (mps2-an500).

The model sources, a start-up file and a ``main`` are linked for QEMU's Cortex-M7 board. Where
Unicorn is driven function by function from Python, this is the whole firmware from its reset
vector, in another emulator: :func:`run_in_qemu` runs one inference on inputs baked into the
image, the firmware prints every output byte over semihosting and the host parses them. (The
exported project's QEMU platform, which :class:`tvm_stm32dvfs.project.link.QemuLink` drives over
a serial link, is built with the project's CMake.)
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .._version import __version__
from ..errors import ToolchainError
from ..resources import data_dir, templates
from ..vocabulary import CORE_FLAGS

QEMU_MACHINE = "mps2-an500"
TIMEOUT_S = 600


def find_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(f"{name} not found: install Debian's {package} (make test does)")
    return path


def run_in_qemu(compiled, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """One inference of ``compiled`` on ``inputs`` (arrays in input order) under QEMU."""
    cc = find_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    qemu = find_tool("qemu-system-arm", "qemu-system-arm")
    arrays = compiled._input_arrays(list(inputs))
    main_c = templates("sim").get_template("qemu_main.c.j2").render(
        model_name=compiled.model_name,
        version=__version__,
        inputs=[{"nbytes": a.nbytes, "bytes": ", ".join(str(b) for b in a.tobytes())} for a in arrays],
        outputs=[{"nbytes": o.nbytes} for o in compiled.outputs],
    )
    qemu_dir = data_dir("runtime") / "qemu"
    with tempfile.TemporaryDirectory(prefix="stm32dvfs-qemu-") as tmp:
        work = Path(tmp)
        compiled.sources.write(work)
        (work / "qemu_main.c").write_text(main_c)
        sources = [str(work / c) for c in compiled.sources.c_files]
        sources += [str(work / "qemu_main.c"), str(qemu_dir / "startup_qemu.c")]
        elf = work / "model.elf"
        cmd = [cc, *CORE_FLAGS["cortex-m7"], "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(work),
               "--specs=nano.specs", "--specs=rdimon.specs", "-nostartfiles", "-T", str(qemu_dir / "mps2_an500.ld"),
               *sources, "-lm", "-o", str(elf)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"QEMU firmware failed to build:\n{' '.join(cmd)}\n{proc.stderr}")
        run = subprocess.run([qemu, "-M", QEMU_MACHINE, "-nographic", "-semihosting", "-kernel", str(elf)],
                             capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
        if run.returncode != 0:
            raise RuntimeError(f"firmware exited with {run.returncode} under QEMU:\n{run.stdout}\n{run.stderr}")
    lines = {line.split(" ", 1)[0]: line.split()[1:] for line in run.stdout.splitlines() if line.startswith("output")}
    outputs = []
    for i, spec in enumerate(compiled.outputs):
        data = bytes(int(b, 16) for b in lines[f"output{i}"])
        outputs.append(np.frombuffer(data, dtype=spec.dtype).reshape(spec.shape).copy())
    return outputs
