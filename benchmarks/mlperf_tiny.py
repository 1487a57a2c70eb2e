"""The MLPerf Tiny reference models (tests/data/mlperf_tiny: the published .tflite files and their
tf2onnx conversions) on the default board: what compiling them costs, how fast the kernels run them, and their minimum latency and
planned energy at twice that latency.

    .venv/bin/python benchmarks/mlperf_tiny.py [--markdown]

Not a test: every figure is measured at run time (instruction counts in the emulator, latency
and energy from the emulated profile and the board's power model) and printed; --markdown prints
the table docs/models.md carries.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

import tvm_stm32dvfs
from tvm_stm32dvfs.boards import load
from tvm_stm32dvfs.evaluate import kernels as kf
from tvm_stm32dvfs.optimize.from_profile import plan_problem
from tvm_stm32dvfs.optimize.plan import minimum_latency_ms
from tvm_stm32dvfs.profile import profile

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted((ROOT / "tests" / "data" / "mlperf_tiny").glob("*.tflite")) + sorted(
    (ROOT / "tests" / "data" / "mlperf_tiny").glob("*.onnx"))
BOARD = "stm32f746g-disco"
COLUMNS = ("model", "compile s", "MACs", "weights (flash) B", "arena plain B", "arena default B",
           "i/MAC plain", "i/MAC default", "i/MAC DAE", "min latency ms", "energy at 2x uJ")


def measure(path: Path) -> tuple[str, ...]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tvm_stm32dvfs.errors.Stm32DvfsWarning)  # dynamic batch -> 1
        start = time.perf_counter()
        mod, params = tvm_stm32dvfs.load_model(path)
        default = tvm_stm32dvfs.build(mod, params=params, model_name=path.stem)
        seconds = time.perf_counter() - start
    plain = tvm_stm32dvfs.build(mod, params=params, model_name=path.stem, dae=False)
    largest = tvm_stm32dvfs.build(mod, params=params, model_name=path.stem, granularity="largest")
    x = plain.sample_inputs()[0]
    per_mac = [kf.model_figures(c, x).per_mac for c in (plain, default, largest)]
    board = load(BOARD)
    fastest = minimum_latency_ms(plan_problem(profile(default, board), board, 1e9))
    planned = tvm_stm32dvfs.build(mod, params=params, model_name=path.stem, latency_ms=2 * fastest)
    return (path.name, f"{seconds:.1f}", f"{default.macs:,}", f"{default.weights_bytes:,}", f"{plain.arena_bytes:,}",
            f"{default.arena_bytes:,}", *(f"{v:.2f}" for v in per_mac), f"{fastest:.2f}",
            f"{planned.plan.predicted_energy_uj:,.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    rows = [measure(p) for p in MODELS]
    if args.markdown:
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    table = Table(title=f"MLPerf Tiny reference models on {BOARD}")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col == "model" else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
