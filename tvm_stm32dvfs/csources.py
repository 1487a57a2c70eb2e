"""``CSources``: the C a model compiles to, as codegen emits it and the host build, the
emulator and the project read it (shared by those stages, so it depends on none of them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .resources import data_dir

#: Headers the model sources include from the runtime folder.
RUNTIME_HEADERS = ("stm32dvfs_status.h", "stm32dvfs_qnn.h", "stm32dvfs_nn.h", "stm32dvfs_nn_support.h",
                   "stm32dvfs_nn_tiles.h", "stm32dvfs_runtime.h", "stm32dvfs_plan.h", "stm32dvfs_clock_regs.h",
                   "stm32dvfs_clock_family.h", "stm32dvfs_dma_family.h", "stm32dvfs_profile.h")
#: Runtime sources compiled with every model: phase hooks, the plan handler, the kernel library,
#: the DMA copy, the board drivers (each of those compiles to nothing outside its family) and the
#: profiling firmware's cycle counts.
RUNTIME_SOURCES = ("stm32dvfs_runtime.c", "stm32dvfs_plan.c", "stm32dvfs_nn_conv2d.c", "stm32dvfs_nn_depthwise.c",
                   "stm32dvfs_nn_dense.c", "stm32dvfs_nn_quantize.c", "stm32dvfs_dma.c", "stm32dvfs_dma_stream.c",
                   "stm32dvfs_dma_channel.c", "stm32dvfs_clock.c", "stm32dvfs_clock_f4f7.c", "stm32dvfs_clock_h7.c",
                   "stm32dvfs_clock_l4.c", "stm32dvfs_profile.c")


def runtime_files() -> dict[str, str]:
    """The runtime's headers and sources (file name -> text), as every build compiles them."""
    root = data_dir("runtime")
    files = {header: (root / "include" / header).read_text() for header in RUNTIME_HEADERS}
    files.update({source: (root / "src" / source).read_text() for source in RUNTIME_SOURCES})
    return files


@dataclass(frozen=True)
class CSources:
    """The generated C of one model: file name -> text (plus the runtime headers it includes)."""

    files: dict[str, str]

    def write(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in sorted(self.files.items()):
            path = directory / name
            path.write_text(text)
            written.append(path)
        return written

    @property
    def c_files(self) -> list[str]:
        return sorted(n for n in self.files if n.endswith(".c"))

    @property
    def lines(self) -> int:
        return sum(t.count("\n") for t in self.files.values())
