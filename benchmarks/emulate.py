"""Emulation speed: instructions per second and wall time of one emulated inference per model,
and the wall time of a full profile (every layer, granularity, phase and clock state).

    .venv/bin/python benchmarks/emulate.py [--board stm32f746g-disco]

Cross-compiles every bundled model, float and int8 (DAE, default granularities), for the board's
core, runs one inference in Unicorn (instruction classes counted per basic block) and once more
with memory accesses counted per region; then profiles the int8 model from scratch (no cache:
the plain build plus three tile options, each emulated once). Measured at run time, never stored.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

import tvm_stm32dvfs
from tvm_stm32dvfs.sim.emulator import cross_compile, memory_map
from tvm_stm32dvfs.models.zoo import ZOO
from tvm_stm32dvfs.profile import profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="stm32f746g-disco")
    args = parser.parse_args()
    board = tvm_stm32dvfs.boards.load(args.board)
    memory = memory_map(board)
    table = Table(title=f"emulated inference ({board.core} of {board.name}, Unicorn)")
    for col in ("model", "instructions", "instr / MAC", "wall s", "M instr/s", "with memory counts s",
                "full profile s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, entry in ZOO.items():
        for label, path in ((name, entry.path), (f"{name}_int8", entry.int8_path)):
            mod, params = tvm_stm32dvfs.from_onnx(path)
            compiled = tvm_stm32dvfs.build(mod, target=f"stm32dvfs-{board.name}", params=params, model_name=label)
            x = np.random.default_rng(0).standard_normal(compiled.inputs[0].shape).astype(np.float32)
            cross_compile(compiled.sources, core=board.core, memory=memory)  # compile outside the timing
            start = time.perf_counter()
            run = tvm_stm32dvfs.emulate(compiled, x, core=board.core, memory=memory)
            wall = time.perf_counter() - start
            start = time.perf_counter()
            tvm_stm32dvfs.emulate(compiled, x, core=board.core, memory=memory, count_memory=True)
            wall_memory = time.perf_counter() - start
            profile_s = "-"
            if label.endswith("_int8"):
                start = time.perf_counter()
                profile(compiled, board, use_cache=False)
                profile_s = f"{time.perf_counter() - start:.1f}"
            table.add_row(label, f"{run.instructions:,}", f"{run.instructions / compiled.macs:.2f}", f"{wall:.2f}",
                          f"{run.instructions / wall / 1e6:.1f}", f"{wall_memory:.2f}", profile_s)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
