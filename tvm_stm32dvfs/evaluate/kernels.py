"""Instructions per MAC of the int8 kernels, measured in the emulator, next to the libraries'.

The reference layers are the five shapes the public libraries were measured on
(``data/library_kernels.toml``): single-layer ONNX models (Conv + ReLU, weights from a fixed seed)
quantised by onnxruntime's static quantiser, compiled plain and decoupled, and run in Unicorn.
``benchmarks/dae.py`` prints the figures; ``tests/perf/test_kernel_instructions.py`` asserts the
goals on them (emulated instruction counts are deterministic).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ..sim.emulator import EmulatedRun, emulate

#: the operators whose instructions per MAC are compared with the libraries'
MAC_OPS = ("conv2d", "depthwise_conv2d", "dense")


@dataclass(frozen=True)
class ReferenceLayer:
    key: str
    description: str
    shape: tuple[int, int, int, int]  # NCHW input
    out_channels: int
    kernel: int
    stride: int
    pad: int
    groups: int
    cmsis_nn: float
    tinyengine: float

    @property
    def library(self) -> float:
        """The better of the two libraries."""
        return min(self.cmsis_nn, self.tinyengine)


_GEOMETRY = {
    "pointwise_12x12x64_64": ((1, 64, 12, 12), 64, 1, 1, 0, 1),
    "pointwise_24x24x32_64": ((1, 32, 24, 24), 64, 1, 1, 0, 1),
    "depthwise_3x3_s1_24x24x64": ((1, 64, 24, 24), 64, 3, 1, 1, 64),
    "conv_3x3_s1_16x16x16_16": ((1, 16, 16, 16), 16, 3, 1, 1, 1),
    "conv_3x3_s2_96x96x3_8": ((1, 3, 96, 96), 8, 3, 2, 1, 1),
}


@lru_cache(maxsize=1)
def library_figures() -> dict:
    with open(Path(__file__).parent / "data" / "library_kernels.toml", "rb") as f:
        return tomllib.load(f)


def reference_layers() -> list[ReferenceLayer]:
    layers = library_figures()["layers"]
    return [ReferenceLayer(key, layers[key]["description"], *_GEOMETRY[key], layers[key]["cmsis_nn"],
                           layers[key]["tinyengine"]) for key in _GEOMETRY]


def library_model_figure(model: str) -> float:
    """The best library's instructions per MAC over a bundled model's conv/depthwise/dense layers."""
    return float(library_figures()["models"][model])


def single_layer_model(layer: ReferenceLayer):
    """The layer as an int8 QDQ ONNX model: Conv + ReLU with seeded weights, quantised by
    onnxruntime (per-channel symmetric int8 weights, int8 activations, seeded calibration)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    shape, out_ch, k, stride, pad, groups = layer.shape, layer.out_channels, layer.kernel, layer.stride, layer.pad, \
        layer.groups
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((out_ch, shape[1] // groups, k, k)) * 0.2).astype(np.float32)
    b = (rng.standard_normal(out_ch) * 0.1).astype(np.float32)
    oh = (shape[2] + 2 * pad - k) // stride + 1
    ow = (shape[3] + 2 * pad - k) // stride + 1
    conv = helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[k, k], strides=[stride, stride],
                            pads=[pad] * 4, group=groups)
    relu = helper.make_node("Relu", ["c"], ["y"])
    graph = helper.make_graph([conv, relu], "layer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out_ch, oh, ow])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])

    class Calibration(CalibrationDataReader):
        def __init__(self):
            data_rng = np.random.default_rng(0)
            self.data = iter([{"x": data_rng.standard_normal(shape).astype(np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.data, None)

    with tempfile.TemporaryDirectory() as tmp:
        f, q = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), f)
        quantize_static(str(f), str(q), Calibration(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                        extra_options={"WeightSymmetric": True})
        return _int8_output(onnx.load(q))


def _int8_output(model):
    """The model with its final DequantizeLinear removed: the layer ends in int8, as the libraries'
    kernels were measured (a float output would add the dequantisation of every output)."""
    from onnx import TensorProto, helper

    graph = model.graph
    (out,) = graph.output
    last = next(n for n in graph.node if out.name in n.output)
    assert last.op_type == "DequantizeLinear", last.op_type
    graph.node.remove(last)
    shape = [d.dim_value for d in out.type.tensor_type.shape.dim]
    graph.output.remove(out)
    graph.output.append(helper.make_tensor_value_info(last.input[0], TensorProto.INT8, shape))
    return model


def layer_input(layer: ReferenceLayer) -> np.ndarray:
    return np.random.default_rng(2).standard_normal(layer.shape).astype(np.float32)


@dataclass(frozen=True)
class PhaseFigures:
    """Executed instructions per MAC of one layer: access phase, execute phase, whole layer."""

    access: float
    execute: float
    whole: float


def phase_figures(compiled, run: EmulatedRun, index: int) -> PhaseFigures:
    macs = compiled.layers[index].macs
    access = run.by_phase.get((index, "access"), 0)
    execute = run.by_phase.get((index, "execute"), 0)
    return PhaseFigures(access / macs, execute / macs, run.layer_instructions(index) / macs)


def mac_layer(compiled) -> int:
    """Index of the (only) convolution of a single-layer model."""
    return next(i for i, layer in enumerate(compiled.layers) if layer.op in MAC_OPS)


def measure_layer(compiled, x) -> PhaseFigures:
    """Emulate a single-layer model once and return its convolution's figures."""
    return phase_figures(compiled, emulate(compiled, x), mac_layer(compiled))


@dataclass(frozen=True)
class ModelFigures:
    """A model's conv / depthwise / dense layers: instructions per MAC over them all, and per
    depthwise layer (index, stride, instructions per MAC)."""

    per_mac: float
    depthwise: tuple[tuple[int, float], ...]


def model_figures(compiled, x) -> ModelFigures:
    run = emulate(compiled, x)
    indices = [i for i, layer in enumerate(compiled.layers) if layer.op in MAC_OPS]
    macs = sum(compiled.layers[i].macs for i in indices)
    instructions = sum(run.layer_instructions(i) for i in indices)
    depthwise = tuple((i, run.layer_instructions(i) / compiled.layers[i].macs) for i in indices
                      if compiled.layers[i].op == "depthwise_conv2d")
    return ModelFigures(instructions / macs, depthwise)
