"""Shared fixtures: bundled models compiled once per test process."""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

import tvm_stm32dvfs
from tvm_stm32dvfs.models.zoo import ZOO


@functools.lru_cache(maxsize=None)
def compiled_zoo_model(name: str):
    mod, params = tvm_stm32dvfs.from_onnx(ZOO[name].path)
    return tvm_stm32dvfs.build(mod, params=params, model_name=name)


@pytest.fixture(params=sorted(ZOO))
def zoo_name(request) -> str:
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def zoo_model():
    """``zoo_model(name)`` -> the bundled model compiled for the default board (cached)."""
    return compiled_zoo_model


@pytest.fixture(scope="session")
def tool():
    """``tool(name)`` -> path of an external tool; its absence fails the test."""
    return require_tool


@pytest.fixture
def stand_in_probes(tmp_path, monkeypatch):
    """PATH with this machine's flashing tools hidden and a folder of stand-ins first:
    ``stand_in_probes(name, script)`` writes one there (a /bin/sh script). Subprocesses inherit it."""
    directory = tmp_path / "probes"
    directory.mkdir()
    keep = [p for p in os.environ["PATH"].split(os.pathsep)
            if not any((Path(p) / t).exists() for t in ("openocd", "st-flash", "pyocd"))]
    monkeypatch.setenv("PATH", os.pathsep.join([str(directory), *keep]))

    def write(name: str, script: str) -> None:
        path = directory / name
        path.write_text("#!/bin/sh\n" + script + "\n")
        path.chmod(0o755)

    return write


def require_tool(name: str) -> str:
    """Path of an external tool that `make test` installs; its absence is a setup error, not a skip."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make test`, which installs it with apt-get")
    return path


INT8_SHAPE = [1, 3, 10, 10]


class RandomCalibration(CalibrationDataReader):
    """``n`` seeded standard-normal samples of input ``x``."""

    def __init__(self, shape, n: int = 8, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.data = iter([{"x": rng.standard_normal(shape).astype(np.float32)} for _ in range(n)])

    def get_next(self):
        return next(self.data, None)


def quantize_with_ort(float_path, out_path, shape, n: int = 8, quant_format=QuantFormat.QDQ, **options):
    """onnxruntime's static quantiser on random calibration data (int8 activations and weights,
    per channel, symmetric weights unless ``options`` say otherwise); returns ``out_path``."""
    settings = {"activation_type": QuantType.QInt8, "weight_type": QuantType.QInt8, "per_channel": True,
                "extra_options": {"WeightSymmetric": True}}
    settings.update(options)
    quantize_static(str(float_path), str(out_path), RandomCalibration(shape, n), quant_format=quant_format, **settings)
    return out_path


@pytest.fixture(scope="session")
def ort_quantize():
    """``ort_quantize(float_path, out_path, shape, ...)``: see :func:`quantize_with_ort`."""
    return quantize_with_ort


@pytest.fixture(scope="session")
def int8_model(tmp_path_factory):
    """A small CNN (conv, ReLU, depthwise, pool, dense, softmax) quantized by onnxruntime, imported."""
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Conv", ["x", "w0"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Conv", ["b", "w1"], ["c"], pads=[1, 1, 1, 1], group=8),
             helper.make_node("GlobalAveragePool", ["c"], ["d"]),
             helper.make_node("Flatten", ["d"], ["e"]),
             helper.make_node("Gemm", ["e", "w2"], ["f"], transB=1),
             helper.make_node("Softmax", ["f"], ["y"])]
    inits = [numpy_helper.from_array((rng.standard_normal(s) * 0.3).astype(np.float32), n)
             for n, s in (("w0", (8, 3, 3, 3)), ("w1", (8, 1, 3, 3)), ("w2", (4, 8)))]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, INT8_SHAPE)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    d = tmp_path_factory.mktemp("int8")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), d / "f.onnx")
    return tvm_stm32dvfs.from_onnx(quantize_with_ort(d / "f.onnx", d / "q.onnx", INT8_SHAPE))[0]
