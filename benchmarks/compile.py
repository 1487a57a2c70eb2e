"""Compile every bundled model and print what it costs: wall time, memory, generated C.

    .venv/bin/python benchmarks/compile.py

Not a test: the figures are measured on this machine at run time and printed.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

import tvm_stm32dvfs
from tvm_stm32dvfs.models.zoo import ZOO


def main() -> None:
    table = Table(title="compile: bundled models, default board")
    for col in ("model", "precision", "compile s", "layers", "MACs", "arena B", "weights B", "C lines"):
        table.add_column(col, justify="right" if col not in ("model", "precision") else "left")
    for name, entry in ZOO.items():
        for precision, path in (("float32", entry.path), ("int8", entry.int8_path)):
            start = time.perf_counter()
            mod, params = tvm_stm32dvfs.from_onnx(path)
            compiled = tvm_stm32dvfs.build(mod, params=params, model_name=name)
            seconds = time.perf_counter() - start
            table.add_row(name, precision, f"{seconds:.1f}", str(len(compiled.layers)), f"{compiled.macs:,}",
                          f"{compiled.arena_bytes:,}", f"{compiled.weights_bytes:,}", f"{compiled.sources.lines:,}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
