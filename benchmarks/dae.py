"""The int8 kernels against the public libraries: executed instructions per MAC, emulated.

    .venv/bin/python benchmarks/dae.py [--granularities N]

Table 1, the five reference layers of the libraries' measurements (single-layer models quantised
by onnxruntime with fixed seeds): the plain kernel (the TinyEngine-style baseline) and every
decoupled tile offered (up to N, spread), with the access phase, the execute phase and the whole
layer (im2col / widening and requantisation included), beside CMSIS-NN and TinyEngine.

Table 2, the bundled int8 models and the MLPerf Tiny reference models (both forms), conv /
depthwise / dense layers: plain, the largest tiles in every layer and the default build (tiles
only where neither slower nor bigger), beside the best library's figure for the same layers of
the bundled models, and every depthwise layer's plain and decoupled figures.

Table 3, the access phase of the bundled models' DMA-capable layers on every board by CPU copy, DMA
sleep and DMA overlap (tvm_stm32dvfs/evaluate/access.py): energy at the fastest and the slowest
candidate state, the DMA's transfers costed as the optimizer costs them.

Library figures: tvm_stm32dvfs/evaluate/data/library_kernels.toml (measured the same way, cited
there). Our figures are measured here, not stored. The goals of issue 16 are asserted by
tests/perf/test_kernel_instructions.py.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import tvm
from rich.console import Console
from rich.table import Table

import tvm_stm32dvfs
from tvm_stm32dvfs import dae
from tvm_stm32dvfs.evaluate import kernels as kf
from tvm_stm32dvfs.models.zoo import ZOO

MLPERF = Path(__file__).resolve().parents[1] / "tests" / "data" / "mlperf_tiny"


def _kernel_shape(mod):
    fused = tvm_stm32dvfs.transform.stm32dvfs_pipeline(dae=False)(mod)
    return next((gv.name_hint, dae.kernel_shape(f)) for gv, f in fused.functions_items()
                if isinstance(f, tvm.tirx.PrimFunc) and dae.kernel_shape(f) is not None)


def reference_layers(max_granularities: int) -> Table:
    table = Table(title="Reference int8 layers: instructions per MAC (Cortex-M7, emulated)")
    for col in ("layer", "kernel", "buffers B", "phase events", "access", "execute", "layer i/MAC", "CMSIS-NN",
                "TinyEngine"):
        table.add_column(col, justify="left" if col in ("layer", "kernel") else "right")
    for layer in kf.reference_layers():
        mod = tvm_stm32dvfs.from_onnx(kf.single_layer_model(layer))[0]
        x = kf.layer_input(layer)
        plain = kf.measure_layer(tvm_stm32dvfs.build(mod, dae=False), x)
        table.add_row(layer.description, "plain", "-", "-", "-", "-", f"{plain.whole:.2f}", f"{layer.cmsis_nn:.2f}",
                      f"{layer.tinyengine:.2f}")
        name, shape = _kernel_shape(mod)
        for option in dae.tile_options(shape, max_options=max_granularities):
            figures = kf.measure_layer(tvm_stm32dvfs.build(mod, granularity={name: option.granularity}), x)
            table.add_row("", f"DAE {option.granularity}", f"{option.buffer_bytes:,}", f"{option.phase_events:,}",
                          f"{figures.access:.2f}", f"{figures.execute:.2f}", f"{figures.whole:.2f}", "", "")
    return table


def bundled_models() -> Table:
    table = Table(title="Bundled and MLPerf Tiny int8 models, conv/depthwise/dense layers: instructions per MAC "
                        "(emulated)")
    for col in ("model", "best library", "plain", "DAE (largest tiles)", "DAE / library", "default build",
                "arena plain B", "arena DAE B", "arena default B", "depthwise layers: plain -> DAE"):
        table.add_column(col, justify="left" if col in ("model", "depthwise layers: plain -> DAE") else "right")
    # the bundled models, then the MLPerf Tiny reference models (no library figure measured: "-")
    models = [(name, entry.int8_path) for name, entry in ZOO.items()]
    models += [(p.name, p) for p in sorted(MLPERF.glob("*.tflite")) + sorted(MLPERF.glob("*.onnx"))]
    for name, path in models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tvm_stm32dvfs.errors.Stm32DvfsWarning)  # tf2onnx's dynamic batch
            mod, _ = tvm_stm32dvfs.load_model(path)
        plain_c = tvm_stm32dvfs.build(mod, dae=False)
        dae_c = tvm_stm32dvfs.build(mod, granularity="largest")
        default_c = tvm_stm32dvfs.build(mod)  # tiles only where neither slower nor bigger
        x = plain_c.sample_inputs()[0]
        plain, decoupled, default = (kf.model_figures(c, x) for c in (plain_c, dae_c, default_c))
        library = kf.library_model_figure(name) if name in ZOO else None
        depthwise = " ".join(f"{p:.1f}->{d:.1f}" for (_, p), (_, d) in zip(plain.depthwise, decoupled.depthwise))
        table.add_row(name, f"{library:.2f}" if library else "-", f"{plain.per_mac:.2f}", f"{decoupled.per_mac:.2f}",
                      f"{decoupled.per_mac / library:.2f}" if library else "-", f"{default.per_mac:.2f}",
                      f"{plain_c.arena_bytes:,}",
                      f"{dae_c.arena_bytes:,}", f"{default_c.arena_bytes:,}", depthwise)
    return table


def access_methods(boards) -> Table:
    from tvm_stm32dvfs.boards import load
    from tvm_stm32dvfs.evaluate.access import access_energy

    table = Table(title="Access phase of the DMA-capable layers: CPU copy, DMA sleep, DMA overlap (uJ, modelled)")
    for col in ("model", "board", "state", "layers", "transfers", "CPU", "sleep", "overlap", "sleep saves",
                "overlap saves"):
        table.add_column(col, justify="left" if col in ("model", "board", "state") else "right")
    for name, entry in ZOO.items():
        mod, params = tvm_stm32dvfs.from_onnx(entry.int8_path)
        for board_name in boards:
            board = load(board_name)
            compiled = tvm_stm32dvfs.build(mod, target=f"stm32dvfs-{board_name}", params=params, model_name=name)
            for a in access_energy(compiled, board):
                table.add_row(name, board_name, a.state, str(a.layers), str(a.transfers),
                              *(f"{a.access_uj[m]:,.1f}" for m in ("cpu", "sleep", "overlap")),
                              f"{a.saving('sleep'):.1%}", f"{a.saving('overlap'):.1%}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--granularities", type=int, default=4, help="decoupled tiles per layer (spread)")
    args = parser.parse_args()
    console = Console(width=170)
    console.print(reference_layers(args.granularities))
    console.print(bundled_models())
    from tvm_stm32dvfs.boards import known_boards
    console.print(access_methods(known_boards()))


if __name__ == "__main__":
    main()
