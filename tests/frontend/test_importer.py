"""Frontend: loading, validation and the one-line errors for bad input."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tvm_stm32dvfs
from tvm_stm32dvfs.errors import (DynamicShapeError, ModelFormatError, Stm32DvfsError, Stm32DvfsWarning,
                                  UnsupportedOperatorError)
from tvm_stm32dvfs.models.zoo import ZOO


def _model(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])



def _relu_model(dims):
    return _model(
        [helper.make_node("Relu", ["x"], ["y"], name="r")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)],
    )


def test_errors_share_one_base_class():
    for cls in (ModelFormatError, UnsupportedOperatorError, DynamicShapeError):
        assert issubclass(cls, Stm32DvfsError)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFormatError, match="no such model file"):
        tvm_stm32dvfs.from_onnx(tmp_path / "nope.onnx")


def test_not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is a text file, not a protobuf\n" * 10)
    with pytest.raises(ModelFormatError, match="not .*ONNX model"):
        tvm_stm32dvfs.from_onnx(path)


def test_truncated_file(tmp_path):
    data = ZOO["kws_dscnn"].path.read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError) as info:
        tvm_stm32dvfs.from_onnx(path)
    assert "\n" not in str(info.value)


def test_every_unsupported_operator_in_one_error():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    m = _model(
        [
            helper.make_node("Sigmoid", ["x"], ["a"], name="sig0"),
            helper.make_node("Relu", ["a"], ["b"], name="relu0"),
            helper.make_node("Tanh", ["b"], ["c"], name="tanh0"),
            helper.make_node("Sigmoid", ["c"], ["y"], name="sig1"),
        ],
        [x],
        [y],
    )
    with pytest.raises(UnsupportedOperatorError) as info:
        tvm_stm32dvfs.from_onnx(m)
    msg = str(info.value)
    assert "Sigmoid (nodes 'sig0', 'sig1')" in msg and "Tanh (node 'tanh0')" in msg
    assert "Supported:" in msg and "Conv" in msg
    assert "\n" not in msg


def test_dynamic_shape_says_how_to_fix():
    m = _relu_model([2, "width"])
    with pytest.raises(DynamicShapeError, match=r"dynamic dimension 'width'.*shape="):
        tvm_stm32dvfs.from_onnx(m)
    mod, _ = tvm_stm32dvfs.from_onnx(m, shape={"x": [2, 4]})
    compiled = tvm_stm32dvfs.build(mod)
    assert compiled.inputs[0].shape == (2, 4)


def test_dynamic_batch_is_one_and_said_in_one_line():
    m = _relu_model(["unk__232", 4])
    with pytest.warns(Stm32DvfsWarning, match=r"dynamic batch dimension 'unk__232': compiled for batch 1") as seen:
        mod, _ = tvm_stm32dvfs.from_onnx(m)
    assert len(seen) == 1 and "\n" not in str(seen[0].message)
    assert tvm_stm32dvfs.build(mod).inputs[0].shape == (1, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit shape says nothing
        mod, _ = tvm_stm32dvfs.from_onnx(m, shape=[3, 4])
    assert tvm_stm32dvfs.build(mod).outputs[0].shape == (3, 4)


def test_shape_list_for_single_input_and_conflicts():
    m = _relu_model([3, "n"])
    mod, _ = tvm_stm32dvfs.from_onnx(m, shape=[3, 4])
    assert tvm_stm32dvfs.build(mod).outputs[0].shape == (3, 4)
    with pytest.raises(DynamicShapeError, match="fixed by the model"):
        tvm_stm32dvfs.from_onnx(m, shape=[2, 4])
    with pytest.raises(DynamicShapeError, match="not an input"):
        tvm_stm32dvfs.from_onnx(m, shape={"z": [1, 4]})


def test_run_time_reshape_shape_is_rejected_clearly():
    m = _model(
        [helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("s", TensorProto.INT64, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])],
    )
    with pytest.raises(UnsupportedOperatorError, match="input 's' must be a constant"):
        tvm_stm32dvfs.from_onnx(m)


def test_integer_model_is_rejected_not_miscompiled():
    m = _model(
        [helper.make_node("Add", ["x", "x"], ["y"], name="add")],
        [helper.make_tensor_value_info("x", TensorProto.INT8, [4])],
        [helper.make_tensor_value_info("y", TensorProto.INT8, [4])],
    )
    with pytest.raises(UnsupportedOperatorError, match="element type INT8"):
        tvm_stm32dvfs.from_onnx(m)


def test_params_come_back_separately():
    mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].path)
    assert params and all(isinstance(v, np.ndarray) for v in params.values())
    main_params = [p.name for p in mod["main"].params]
    assert set(params) <= set(main_params)


def test_model_proto_and_path_agree(tmp_path):
    w = numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(2, 4), "w")
    m = _model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [w],
    )
    path = tmp_path / "mm.onnx"
    onnx.save(m, path)
    x = np.array([[1.0, -2.0]], dtype=np.float32)
    outs = []
    for src in (m, path):
        mod, params = tvm_stm32dvfs.from_onnx(src)
        outs.append(tvm_stm32dvfs.build(mod, params=params).run_host(x))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], x @ np.arange(8, dtype=np.float32).reshape(2, 4))


def test_weights_stored_beside_the_model_are_read(tmp_path):
    """PyTorch's dynamo exporter writes the weights to model.onnx.data next to the model."""
    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [weights])
    path = tmp_path / "model.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx.data", size_threshold=0)
    assert (tmp_path / "model.onnx.data").is_file()
    mod, params = tvm_stm32dvfs.from_onnx(path)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    y = tvm_stm32dvfs.build(mod, params=params).run_host(x)
    import onnxruntime as ort

    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    (tmp_path / "model.onnx.data").unlink()
    with pytest.raises(ModelFormatError, match=r"weights are stored in model.onnx.data beside it.*keep that file"):
        tvm_stm32dvfs.from_onnx(path)

