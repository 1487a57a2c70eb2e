"""The bundled example models, built from their published architectures with seeded weights.

The MLPerf Tiny inference architectures plus an MCUNet-style inverted-residual network. Weights
are deterministic (He-normal, seeded per model) and BatchNormalization layers are kept in the
graph with non-trivial statistics so that the compiler's folding is exercised. The committed
``.onnx`` files are regenerated only on request::

    python -m tvm_stm32dvfs.models.zoo --regenerate

References: MLPerf Tiny v1.0 reference models (keyword spotting DS-CNN, visual wake words
MobileNetV1 0.25x, image classification ResNet-8); Lin et al., "MCUNet" (NeurIPS 2020).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MODELS_DIR = Path(__file__).resolve().parent
OPSET = 17


class GraphBuilder:
    """A tiny helper that appends NCHW layers to an ONNX graph with seeded weights."""

    def __init__(self, name: str, seed: int, input_shape: tuple[int, ...]) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.input_shape = input_shape
        self.counter = 0
        self.channels = input_shape[1]

    def _uid(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}_{self.counter}"

    def _const(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def conv(self, x: str, out_ch: int, k: tuple[int, int], stride: int = 1, pads=None, groups: int = 1,
             bias: bool = False) -> str:
        name = self._uid("conv")
        in_ch = self.channels
        fan_in = (in_ch // groups) * k[0] * k[1]
        w = (self.rng.standard_normal((out_ch, in_ch // groups, *k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        inputs = [x, self._const(f"{name}.weight", w)]
        if bias:
            inputs.append(self._const(f"{name}.bias", (self.rng.standard_normal(out_ch) * 0.05).astype(np.float32)))
        if pads is None:
            pads = [k[0] // 2, k[1] // 2, (k[0] - 1) // 2, (k[1] - 1) // 2]
        self.nodes.append(helper.make_node(
            "Conv", inputs, [name], name=name, kernel_shape=list(k), strides=[stride, stride],
            pads=list(pads), group=groups))
        self.channels = out_ch
        return name

    def bn(self, x: str) -> str:
        name = self._uid("bn")
        c = self.channels
        gamma = (1.0 + 0.1 * self.rng.standard_normal(c)).astype(np.float32)
        beta = (0.1 * self.rng.standard_normal(c)).astype(np.float32)
        mean = (0.1 * self.rng.standard_normal(c)).astype(np.float32)
        var = (1.0 + 0.2 * self.rng.random(c)).astype(np.float32)
        ins = [x] + [self._const(f"{name}.{n}", a) for n, a in
                     (("scale", gamma), ("bias", beta), ("mean", mean), ("var", var))]
        self.nodes.append(helper.make_node("BatchNormalization", ins, [name], name=name, epsilon=1e-3))
        return name

    def relu(self, x: str) -> str:
        name = self._uid("relu")
        self.nodes.append(helper.make_node("Relu", [x], [name], name=name))
        return name

    def relu6(self, x: str) -> str:
        name = self._uid("relu6")
        lo = self._const(f"{name}.min", np.array(0.0, dtype=np.float32))
        hi = self._const(f"{name}.max", np.array(6.0, dtype=np.float32))
        self.nodes.append(helper.make_node("Clip", [x, lo, hi], [name], name=name))
        return name

    def add(self, a: str, b: str) -> str:
        name = self._uid("add")
        self.nodes.append(helper.make_node("Add", [a, b], [name], name=name))
        return name

    def avgpool(self, x: str, k: tuple[int, int]) -> str:
        name = self._uid("avgpool")
        self.nodes.append(helper.make_node("AveragePool", [x], [name], name=name, kernel_shape=list(k),
                                           strides=list(k)))
        return name

    def global_avgpool(self, x: str) -> str:
        name = self._uid("gap")
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], [name], name=name))
        return name

    def classifier(self, x: str, classes: int) -> str:
        flat = self._uid("flatten")
        self.nodes.append(helper.make_node("Flatten", [x], [flat], name=flat, axis=1))
        fc = self._uid("fc")
        w = (self.rng.standard_normal((classes, self.channels)) * np.sqrt(1.0 / self.channels)).astype(np.float32)
        b = (0.05 * self.rng.standard_normal(classes)).astype(np.float32)
        self.nodes.append(helper.make_node(
            "Gemm", [flat, self._const(f"{fc}.weight", w), self._const(f"{fc}.bias", b)], [fc], name=fc, transB=1))
        self.nodes.append(helper.make_node("Softmax", [fc], ["output"], name="softmax", axis=-1))
        self.channels = classes
        return "output"

    def model(self, output_shape: tuple[int, ...], doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(self.input_shape))],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(output_shape))],
            self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tvm_stm32dvfs.models.zoo", doc_string=doc)
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def kws_dscnn() -> onnx.ModelProto:
    """MLPerf Tiny keyword spotting: DS-CNN (small), 49x10 MFCC input, 12 classes."""
    g = GraphBuilder("kws_dscnn", seed=1, input_shape=(1, 1, 49, 10))
    x = g.relu(g.bn(g.conv("input", 64, (10, 4), stride=2, pads=[4, 1, 5, 1])))
    for _ in range(4):
        x = g.relu(g.bn(g.conv(x, 64, (3, 3), groups=64)))
        x = g.relu(g.bn(g.conv(x, 64, (1, 1))))
    x = g.avgpool(x, (25, 5))
    g.classifier(x, 12)
    return g.model((1, 12), kws_dscnn.__doc__)


def vww_mobilenet() -> onnx.ModelProto:
    """MLPerf Tiny visual wake words: MobileNetV1 0.25x, 96x96 RGB, 2 classes, ReLU6."""
    g = GraphBuilder("vww_mobilenet", seed=2, input_shape=(1, 3, 96, 96))
    x = g.relu6(g.bn(g.conv("input", 8, (3, 3), stride=2, pads=[0, 0, 1, 1])))
    plan = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5 + [(256, 2), (256, 1)]
    for out_ch, stride in plan:
        pads = [1, 1, 1, 1] if stride == 1 else [0, 0, 1, 1]  # TF "same" with stride 2
        x = g.relu6(g.bn(g.conv(x, g.channels, (3, 3), stride=stride, pads=pads, groups=g.channels)))
        x = g.relu6(g.bn(g.conv(x, out_ch, (1, 1))))
    x = g.global_avgpool(x)
    g.classifier(x, 2)
    return g.model((1, 2), vww_mobilenet.__doc__)


def ic_resnet8() -> onnx.ModelProto:
    """MLPerf Tiny image classification: ResNet-8 for CIFAR-10, 32x32 RGB, 10 classes."""
    g = GraphBuilder("ic_resnet8", seed=3, input_shape=(1, 3, 32, 32))
    x = g.relu(g.bn(g.conv("input", 16, (3, 3))))
    for out_ch, stride in ((16, 1), (32, 2), (64, 2)):
        in_ch = g.channels
        pads = [1, 1, 1, 1] if stride == 1 else [0, 0, 1, 1]
        y = g.relu(g.bn(g.conv(x, out_ch, (3, 3), stride=stride, pads=pads)))
        y = g.bn(g.conv(y, out_ch, (3, 3)))
        if stride != 1 or in_ch != out_ch:
            g.channels = in_ch
            shortcut = g.conv(x, out_ch, (1, 1), stride=stride, pads=[0, 0, 0, 0], bias=True)
        else:
            shortcut = x
        x = g.relu(g.add(y, shortcut))
    x = g.avgpool(x, (8, 8))
    g.classifier(x, 10)
    return g.model((1, 10), ic_resnet8.__doc__)


def mcunet_ir() -> onnx.ModelProto:
    """MCUNet-style network of inverted-residual blocks (MobileNetV2 blocks with searched kernel
    sizes and expansion ratios), 64x64 RGB, 10 classes."""
    g = GraphBuilder("mcunet_ir", seed=4, input_shape=(1, 3, 64, 64))
    x = g.relu6(g.bn(g.conv("input", 16, (3, 3), stride=2, pads=[0, 0, 1, 1])))
    # (expansion, out channels, stride, kernel) in the style of MCUNet's searched backbones
    blocks = [(1, 8, 1, 3), (4, 16, 2, 7), (3, 16, 1, 3), (6, 24, 2, 5), (3, 24, 1, 5), (6, 40, 2, 3), (4, 40, 1, 7)]
    for expand, out_ch, stride, k in blocks:
        in_ch = g.channels
        y = x
        if expand != 1:
            y = g.relu6(g.bn(g.conv(y, in_ch * expand, (1, 1))))
        pads = [k // 2] * 4 if stride == 1 else [(k - 1) // 2, (k - 1) // 2, k // 2, k // 2]
        y = g.relu6(g.bn(g.conv(y, g.channels, (k, k), stride=stride, pads=pads, groups=g.channels)))
        y = g.bn(g.conv(y, out_ch, (1, 1)))
        x = g.add(y, x) if stride == 1 and in_ch == out_ch else y
    x = g.global_avgpool(x)
    g.classifier(x, 10)
    return g.model((1, 10), mcunet_ir.__doc__)


#: Calibration set of the bundled int8 models: this many standard-normal samples (the synthetic
#: models are trained on nothing, so the input distribution is the one the tests draw from).
CALIBRATION_SAMPLES = 32


@dataclass(frozen=True)
class ZooEntry:
    name: str
    build: Callable[[], onnx.ModelProto]
    task: str

    @property
    def path(self) -> Path:
        return MODELS_DIR / f"{self.name}.onnx"

    @property
    def int8_path(self) -> Path:
        return MODELS_DIR / f"{self.name}_int8.onnx"

    def input_shape(self) -> tuple[int, ...]:
        dims = onnx.load(self.path).graph.input[0].type.tensor_type.shape.dim
        return tuple(int(d.dim_value) for d in dims)


def calibration_set(name: str) -> np.ndarray:
    """The fixed calibration samples of a bundled model, shape (N, *input shape), seeded by name."""
    entry = ZOO[name]
    seed = sum(name.encode())
    rng = np.random.default_rng(seed)
    return rng.standard_normal((CALIBRATION_SAMPLES, *entry.input_shape())).astype(np.float32)


def build_int8(name: str) -> onnx.ModelProto:
    """The int8 version of a bundled model: its float file quantized by tvm_stm32dvfs.quantize."""
    from ..frontend.quantize import quantize

    return quantize(ZOO[name].path, calibration_set(name))


ZOO = {
    e.name: e
    for e in (
        ZooEntry("kws_dscnn", kws_dscnn, "MLPerf Tiny keyword spotting"),
        ZooEntry("vww_mobilenet", vww_mobilenet, "MLPerf Tiny visual wake words"),
        ZooEntry("ic_resnet8", ic_resnet8, "MLPerf Tiny image classification"),
        ZooEntry("mcunet_ir", mcunet_ir, "MCUNet-style inverted residuals"),
    )
}


def model_path(name: str) -> Path:
    """Path of a bundled float model by name (see :data:`ZOO`)."""
    from ..errors import ModelFormatError

    if name not in ZOO:
        raise ModelFormatError(f"no bundled model '{name}'; bundled: {', '.join(ZOO)}")
    return ZOO[name].path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regenerate", action="store_true", help="rewrite the committed .onnx files")
    parser.add_argument("--check", action="store_true", help="fail if a committed file differs from a fresh build")
    args = parser.parse_args(argv)
    status = 0
    for entry in ZOO.values():
        # the float file first: the int8 model is quantized from it
        for path, make in ((entry.path, entry.build), (entry.int8_path, lambda e=entry: build_int8(e.name))):
            data = make().SerializeToString()
            if args.regenerate:
                path.write_bytes(data)
                print(f"wrote {path} ({len(data)} bytes)")
            elif args.check:
                same = path.exists() and path.read_bytes() == data
                print(f"{path.name}: {'up to date' if same else 'DIFFERS'}")
                status |= 0 if same else 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
