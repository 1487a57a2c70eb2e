"""QOperator models (QLinearConv, QLinearMatMul, QLinearAdd, ...) rewritten to QDQ, then compiled."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantFormat

import tvm_stm32dvfs
from tvm_stm32dvfs.errors import UnsupportedOperatorError
from tvm_stm32dvfs.frontend.qlinear import QOPERATORS, qoperator_to_qdq

SHAPE = [1, 4, 8, 8]


@pytest.fixture(scope="module")
def qoperator_model(tmp_path_factory, ort_quantize):
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array((rng.standard_normal(s) * 0.3).astype(np.float32), n)
             for n, s in (("w0", (4, 4, 3, 3)), ("b0", (4,)), ("w1", (6, 4)), ("b1", (6,)))]
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Add", ["r", "x"], ["a"]),
             helper.make_node("GlobalAveragePool", ["a"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "w1", "b1"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])], inits)
    d = tmp_path_factory.mktemp("qop")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), d / "f.onnx")
    return onnx.load(ort_quantize(d / "f.onnx", d / "q.onnx", SHAPE, n=16, quant_format=QuantFormat.QOperator))


def test_rewrite_removes_every_qoperator_and_keeps_the_results(qoperator_model):
    ops = {n.op_type for n in qoperator_model.graph.node}
    assert {"QLinearConv", "QLinearAdd", "QLinearGlobalAveragePool"} & ops
    qdq = qoperator_to_qdq(qoperator_model)
    assert not {n.op_type for n in qdq.graph.node} & QOPERATORS
    a = ort.InferenceSession(qoperator_model.SerializeToString())
    b = ort.InferenceSession(qdq.SerializeToString())
    rng = np.random.default_rng(2)
    for _ in range(10):
        x = rng.standard_normal(SHAPE).astype(np.float32)
        np.testing.assert_allclose(a.run(None, {"x": x})[0], b.run(None, {"x": x})[0], atol=0.1)


def test_qoperator_model_compiles_to_int8(qoperator_model):
    compiled = tvm_stm32dvfs.build(tvm_stm32dvfs.from_onnx(qoperator_model)[0])
    qdq = ort.InferenceSession(qoperator_to_qdq(qoperator_model).SerializeToString())
    x = np.random.default_rng(3).standard_normal(SHAPE).astype(np.float32)
    ours = compiled.run_host(x, sanitize=True)
    assert np.argmax(ours) == np.argmax(qdq.run(None, {"x": x})[0])
    assert "int8_t" in compiled.sources.files["kernels.c"]


def test_dynamic_quantization_is_rejected_naming_the_node():
    nodes = [helper.make_node("ConvInteger", ["x", "w"], ["y"], name="convint0")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 1, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 1, 2, 2])],
                          [numpy_helper.from_array(np.ones((1, 1, 3, 3), np.uint8), "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOperatorError, match="ConvInteger node 'convint0': dynamic quantization"):
        tvm_stm32dvfs.from_onnx(m)
