"""The cross-compiled model in Unicorn: bit-exact with the host build, deterministic counts."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

import tvm_stm32dvfs

SHAPE = [1, 3, 10, 10]


class _Reader(CalibrationDataReader):
    def __init__(self):
        rng = np.random.default_rng(0)
        self.data = iter([{"x": rng.standard_normal(SHAPE).astype(np.float32)} for _ in range(8)])

    def get_next(self):
        return next(self.data, None)


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory):
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
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    import onnx

    d = tmp_path_factory.mktemp("emu")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), d / "f.onnx")
    quantize_static(str(d / "f.onnx"), str(d / "q.onnx"), _Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)
    return tvm_stm32dvfs.from_onnx(d / "q.onnx")[0]


@pytest.mark.emulator
@pytest.mark.parametrize("dae", [False, True], ids=["plain", "dae"])
def test_emulated_outputs_equal_host_and_counts_add_up(int8_model, dae, tool):
    tool("arm-none-eabi-gcc")
    compiled = tvm_stm32dvfs.build(int8_model, dae=dae)
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.standard_normal(SHAPE).astype(np.float32)
        run = tvm_stm32dvfs.emulate(compiled, x)
        np.testing.assert_array_equal(run.outputs, compiled.run_host(x))
    again = tvm_stm32dvfs.emulate(compiled, x)
    assert again.by_phase == run.by_phase, "instruction counts are deterministic"
    assert sum(run.by_phase.values()) == run.instructions
    assert sum(run.layer_instructions(i) for i in range(-1, len(compiled.layers))) == run.instructions
    for i, layer in enumerate(compiled.layers):
        phases = {p for (lay, p) in run.by_phase if lay == i}
        assert run.layer_instructions(i) > 0
        if layer.granularity:
            assert {"access", "execute"} <= phases
        else:
            assert phases == {"plain"}
