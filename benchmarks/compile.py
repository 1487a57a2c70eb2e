"""Compile every bundled model and the MLPerf Tiny reference models and print what it costs: wall
time, memory, generated C.

    .venv/bin/python benchmarks/compile.py

Not a test: the figures are measured on this machine at run time and printed.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

import tvm_stm32dvfs
from tvm_stm32dvfs.models.zoo import ZOO

MLPERF = Path(__file__).resolve().parents[1] / "tests" / "data" / "mlperf_tiny"


def main() -> None:
    table = Table(title="compile: bundled and MLPerf Tiny models, default board")
    for col in ("model", "precision", "compile s", "layers", "MACs", "arena B", "weights B", "C lines"):
        table.add_column(col, justify="right" if col not in ("model", "precision") else "left")
    work = [(name, precision, path) for name, entry in ZOO.items()
            for precision, path in (("float32", entry.path), ("int8", entry.int8_path))]
    # the MLPerf Tiny reference models, as published (.tflite) and as tf2onnx converts them
    work += [(p.stem, f"int8 {p.suffix[1:]}", p)
             for p in sorted(MLPERF.glob("*.tflite")) + sorted(MLPERF.glob("*.onnx"))]
    for name, precision, path in work:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tvm_stm32dvfs.errors.Stm32DvfsWarning)  # tf2onnx's dynamic batch
            start = time.perf_counter()
            mod, params = tvm_stm32dvfs.load_model(path)
            compiled = tvm_stm32dvfs.build(mod, params=params, model_name=name)
            seconds = time.perf_counter() - start
            table.add_row(name, precision, f"{seconds:.1f}", str(len(compiled.layers)), f"{compiled.macs:,}",
                          f"{compiled.arena_bytes:,}", f"{compiled.weights_bytes:,}", f"{compiled.sources.lines:,}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
