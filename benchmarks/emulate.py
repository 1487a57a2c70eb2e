"""Emulation speed: instructions per second and wall time of one emulated inference per model.

    .venv/bin/python benchmarks/emulate.py

Cross-compiles every bundled model (DAE, default granularities) for Cortex-M7, runs one inference
in Unicorn (instruction classes counted per basic block) and once more with memory accesses
counted per region, and prints the figures. Measured at run time, never stored.
"""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console
from rich.table import Table

import tvm_stm32dvfs
from tvm_stm32dvfs.evaluate.emulator import cross_compile
from tvm_stm32dvfs.models.zoo import ZOO


def main() -> None:
    table = Table(title="emulated inference (Cortex-M7, Unicorn)")
    for col in ("model", "instructions", "instr / MAC", "wall s", "M instr/s", "with memory counts s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, entry in ZOO.items():
        mod, params = tvm_stm32dvfs.from_onnx(entry.path)
        compiled = tvm_stm32dvfs.build(mod, params=params)
        x = np.random.default_rng(0).standard_normal(compiled.inputs[0].shape).astype(np.float32)
        cross_compile(compiled.sources)  # compile once, outside the timing
        start = time.perf_counter()
        run = tvm_stm32dvfs.emulate(compiled, x)
        wall = time.perf_counter() - start
        start = time.perf_counter()
        tvm_stm32dvfs.emulate(compiled, x, count_memory=True)
        wall_memory = time.perf_counter() - start
        table.add_row(name, f"{run.instructions:,}", f"{run.instructions / compiled.macs:.2f}", f"{wall:.2f}",
                      f"{run.instructions / wall / 1e6:.1f}", f"{wall_memory:.2f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
