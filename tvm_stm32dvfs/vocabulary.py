"""The names every stage shares, defined once: what a layer's choice and phases are called, the
ids the C runtime gives the phases, the TIR pragmas and function attributes the passes leave for
the C printer, and how the firmware is compiled (flags per core, stack).

Nothing here depends on another module of the package, so any stage may import it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the granularity of a layer that is not decoupled (its plain kernel)
PLAIN = "plain"
ACCESS = "access"
EXECUTE = "execute"
#: the phases a layer runs in: a decoupled layer alternates access and execute, a plain one is plain
PHASES = (ACCESS, EXECUTE, PLAIN)
#: stm32dvfs_phase_kind of runtime/include/stm32dvfs_runtime.h
PHASE_IDS = {ACCESS: 0, EXECUTE: 1, PLAIN: 2}
PHASE_OF_ID = {i: name for name, i in PHASE_IDS.items()}
#: their names in the C runtime
PHASE_C_NAMES = {0: "STM32DVFS_ACCESS", 1: "STM32DVFS_EXECUTE", 2: "STM32DVFS_PLAIN"}

#: TIR pragmas of a decoupled kernel: a phase's loop (value: its phase id), a DMA copy loop, the
#: tile loops (value: TILE_ROWS or TILE_CHANNELS)
PHASE_PRAGMA = "pragma_stm32dvfs_phase"
DMA_PRAGMA = "pragma_stm32dvfs_dma"
TILE_PRAGMA = "pragma_stm32dvfs_tile"
TILE_ROWS = 0
TILE_CHANNELS = 1

#: How a decoupled layer's access phase brings its weight slice into SRAM: by CPU loads (no DMA),
#: or by a memory-to-memory DMA transfer during which the core either sleeps (WFI, woken by the
#: transfer-complete interrupt) or computes: in the overlap mode the transfer of tile i+1 runs
#: while tile i executes. The values of DMA_PRAGMA on the copy loop are DMA_MODE_IDS.
DMA_SLEEP = "sleep"
DMA_OVERLAP = "overlap"
DMA_MODES = (DMA_SLEEP, DMA_OVERLAP)
DMA_MODE_IDS = {DMA_SLEEP: 1, DMA_OVERLAP: 2}
DMA_MODE_OF_ID = {i: mode for mode, i in DMA_MODE_IDS.items()}


#: A decoupled layer's tile: what a plan chooses for a layer besides PLAIN.
@dataclass(frozen=True, order=True)
class Granularity:
    """Output rows x output channels computed per tile (rows is 1 for a dense layer), and how the
    access phase brings the weight slice into SRAM: ``dma`` is "" for CPU loads, else a DMA mode
    (DMA_SLEEP or DMA_OVERLAP)."""

    rows: int
    channels: int
    dma: str = ""

    def __post_init__(self) -> None:
        if self.dma not in ("",) + DMA_MODES:
            raise ValueError(f"unknown DMA mode {self.dma!r} (known: {', '.join(DMA_MODES)})")

    def __str__(self) -> str:
        return f"{self.rows}x{self.channels}" + (f"+{self.dma}" if self.dma else "")

    @classmethod
    def parse(cls, text: str) -> "Granularity":
        """The inverse of ``str()``: ``"4x16"``, ``"4x16+sleep"`` or ``"4x16+overlap"``."""
        tile, _, method = str(text).partition("+")
        rows, channels = (int(v) for v in tile.split("x"))
        return cls(rows, channels, method)


def dma_mode(granularity: str) -> str:
    """The DMA mode of a layer's granularity string ("" for CPU copies and for PLAIN)."""
    return "" if granularity == PLAIN else Granularity.parse(granularity).dma


#: the plan solver wherever none is named (build, the command line, the evaluation, solve): the DP
#: is fast and within a bucket of the optimum; "exact" and "z3" prove optimality on request
DEFAULT_SOLVER = "dp"

#: PrimFunc attributes: a decoupled kernel (DecoupleAccessExecute) is marked DAE_ATTR and carries
#: its tile as GRANULARITY_ATTR; AnnotateDvfs writes a plan's states and tile onto each layer's
#: function (PLAN_ATTRS), and DecoupleAccessExecute keeps a planned function's tile (or none)
DAE_ATTR = "stm32dvfs.dae"
GRANULARITY_ATTR = "stm32dvfs.granularity"
ACCESS_STATE_ATTR = "stm32dvfs.access_state"
EXECUTE_STATE_ATTR = "stm32dvfs.execute_state"
PLAN_ATTRS = (ACCESS_STATE_ATTR, EXECUTE_STATE_ATTR, GRANULARITY_ATTR)

#: arm-none-eabi-gcc flags per core (hard-float ABI as on the boards), for the emulated builds and
#: the firmware project alike. The STM32F746's M7 has the single-precision FPv5 (RM0385);
#: double-precision parts (F767, H743) would take fpv5-d16, which Unicorn's Cortex-M7 model does
#: not execute (vcvt.f64.f32 faults as an invalid instruction).
CORE_FLAGS = {
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
}
#: warnings and code generation of every C build (host builds add the sanitizers)
CFLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"]
#: the firmware's stack (emulated builds and the project's linker script)
STACK_BYTES = 8 * 1024
