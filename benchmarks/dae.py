"""Decoupled access-execute: tile buffers, phase switches and emulated instructions per MAC.

    .venv/bin/python benchmarks/dae.py [--granularities N]

For the five reference int8 layer shapes of the DAE issue (single-layer models quantized by
onnxruntime with fixed seeds) and every granularity offered (up to N per layer), prints the tile
buffer bytes, the phase events, and the executed Cortex-M7 instructions per MAC — access phase,
execute phase and whole layer (im2col / widening and requantisation included) — counted in the
emulator, next to the plain (non-decoupled) kernel. Figures are measured, not stored.
Reference (measured the same way on these machines, whole layer): CMSIS-NN / TinyEngine.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from rich.console import Console
from rich.table import Table

import tvm_stm32dvfs
from tvm_stm32dvfs import dae
from tvm_stm32dvfs.evaluate.emulator import emulate

# name, input shape (NCHW), out channels, kernel, stride, pad, groups, (CMSIS-NN, TinyEngine) ipm
REFERENCE_SHAPES = [
    ("pointwise 1x1, 12x12x64 -> 64", (1, 64, 12, 12), 64, 1, 1, 0, 1, (2.05, 2.27)),
    ("pointwise 1x1, 24x24x32 -> 64", (1, 32, 24, 24), 64, 1, 1, 0, 1, (2.66, 2.94)),
    ("depthwise 3x3 s1 p1, 24x24x64", (1, 64, 24, 24), 64, 3, 1, 1, 64, (8.04, 8.35)),
    ("conv 3x3 s1 p1, 16x16x16 -> 16", (1, 16, 16, 16), 16, 3, 1, 1, 1, (2.35, 2.33)),
    ("conv 3x3 s2 p1, 96x96x3 -> 8", (1, 3, 96, 96), 8, 3, 2, 1, 1, (6.34, 3.08)),
]


class _Calibration(CalibrationDataReader):
    def __init__(self, shape, n=8):
        rng = np.random.default_rng(0)
        self.data = iter([{"x": rng.standard_normal(shape).astype(np.float32)} for _ in range(n)])

    def get_next(self):
        return next(self.data, None)


def single_conv(shape, out_ch, k, stride, pad, groups, workdir: Path) -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((out_ch, shape[1] // groups, k, k)) * 0.2).astype(np.float32)
    b = (rng.standard_normal(out_ch) * 0.1).astype(np.float32)
    oh = (shape[2] + 2 * pad - k) // stride + 1
    ow = (shape[3] + 2 * pad - k) // stride + 1
    node = helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[k, k], strides=[stride, stride],
                            pads=[pad] * 4, group=groups)
    relu = helper.make_node("Relu", ["c"], ["y"])
    g = helper.make_graph([node, relu], "layer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out_ch, oh, ow])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    f = workdir / "float.onnx"
    q = workdir / "int8.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), f)
    quantize_static(str(f), str(q), _Calibration(shape), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                    extra_options={"WeightSymmetric": True})
    return onnx.load(q)


def conv_layer(compiled) -> int:
    return next(i for i, layer in enumerate(compiled.layers) if "conv" in layer.op)


def measure(compiled, x) -> tuple[float, float, float]:
    run = emulate(compiled, x)
    i = conv_layer(compiled)
    macs = compiled.layers[i].macs
    access = run.by_phase.get((i, "access"), 0)
    execute = run.by_phase.get((i, "execute"), 0)
    return access / macs, execute / macs, run.layer_instructions(i) / macs


def _kernel_shapes(mod) -> dict:
    import tvm

    fused = tvm_stm32dvfs.transform.stm32dvfs_pipeline(dae=False)(mod)
    return {gv.name_hint: dae.kernel_shape(f) for gv, f in fused.functions_items()
            if isinstance(f, tvm.tirx.PrimFunc) and dae.kernel_shape(f) is not None}


def bundled_models(max_granularities: int) -> Table:
    """Per bundled int8 model and granularity index: tile buffers, phase events, instructions/MAC."""
    from tvm_stm32dvfs.models.zoo import ZOO
    from tvm_stm32dvfs.profile import _options

    table = Table(title="DAE on the bundled int8 models (Cortex-M7, emulated)")
    for col in ("model", "tiles", "largest tile B", "phase events", "access i/MAC", "execute i/MAC", "model i/MAC"):
        table.add_column(col, justify="left" if col in ("model", "tiles") else "right")
    for name, entry in ZOO.items():
        mod, _ = tvm_stm32dvfs.from_onnx(entry.int8_path)
        base = tvm_stm32dvfs.build(mod, dae=False)
        x = np.random.default_rng(0).standard_normal(base.inputs[0].shape).astype(np.float32)
        run = emulate(base, x)
        shapes = _kernel_shapes(mod)
        table.add_row(name, "plain", "-", "-", "-", "-", f"{run.instructions / base.macs:.2f}")
        budget = max((tvm_stm32dvfs.boards.load("stm32f746g-disco").sram_bytes - base.arena_bytes) // 2, 16384)
        for k, option in enumerate(_options(base, max_granularities, budget)):
            compiled = tvm_stm32dvfs.build(mod, granularity=option)
            run = emulate(compiled, x)
            macs = sum(layer.macs for layer in compiled.layers if layer.granularity)
            access = sum(n for (_, phase), n in run.by_phase.items() if phase == "access")
            execute = sum(n for (_, phase), n in run.by_phase.items() if phase == "execute")
            biggest = max(sum(sb.nbytes for sb in kern.scratch) for kern in compiled.lowered.kernels.values()
                          if kern.granularity)
            events = sum(dae.phase_events(shapes[k_name], dae.Granularity.parse(kern.granularity))
                         for k_name, kern in compiled.lowered.kernels.items() if kern.granularity)
            table.add_row("", f"option {k}", f"{biggest:,}", f"{events:,}", f"{access / macs:.2f}",
                          f"{execute / macs:.2f}", f"{run.instructions / compiled.macs:.2f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--granularities", type=int, default=4, help="granularities per layer (spread)")
    args = parser.parse_args()
    table = Table(title="DAE on the reference int8 layers (Cortex-M7, emulated instructions per MAC)")
    for col in ("layer", "tile", "buffers B", "phase events", "access", "execute", "layer", "CMSIS-NN", "TinyEngine"):
        table.add_column(col, justify="left" if col in ("layer", "tile") else "right")
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape, out_ch, k, stride, pad, groups, (cmsis, tinyengine) in REFERENCE_SHAPES:
            model = single_conv(shape, out_ch, k, stride, pad, groups, Path(tmp))
            mod, _ = tvm_stm32dvfs.from_onnx(model)
            x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
            plain = tvm_stm32dvfs.build(mod, dae=False)
            _, _, whole = measure(plain, x)
            table.add_row(name, "plain", "-", "-", "-", "-", f"{whole:.2f}", f"{cmsis:.2f}", f"{tinyengine:.2f}")
            kname, shape_info = next(iter(_kernel_shapes(mod).items()))
            options = dae.tile_options(shape_info, max_options=args.granularities)
            for option in options:
                compiled = tvm_stm32dvfs.build(mod, granularity={kname: option.granularity})
                access, execute, whole = measure(compiled, x)
                table.add_row("", str(option.granularity), f"{option.buffer_bytes:,}", f"{option.phase_events:,}",
                              f"{access:.2f}", f"{execute:.2f}", f"{whole:.2f}", "", "")
    Console(width=160).print(table)
    Console(width=160).print(bundled_models(args.granularities))


if __name__ == "__main__":
    main()
