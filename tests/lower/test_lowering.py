"""lower(): execution order, tensor kinds, constants, MACs, the arena and the errors of bad
modules, on small ONNX graphs whose answers are computed here independently."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper

import tvm_stm32dvfs
from tvm_stm32dvfs.driver import _bind_params
from tvm_stm32dvfs.errors import DynamicShapeError, UnsupportedOperatorError
from tvm_stm32dvfs.lower import lower
from tvm.script import relax as R


def _model(tmp_path, nodes, inputs, outputs, initializers=(), name="m"):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return path


def _conv_chain(tmp_path):
    """x (1,2,6,6) -> conv 4x2x3x3 (valid) -> relu -> conv 3x4x1x1 -> y (1,3,4,4)."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((3, 4, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Conv", ["b", "w2"], ["y"])]
    path = _model(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])],
                  [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")], "chain")
    mod, params = tvm_stm32dvfs.from_onnx(path)
    return _bind_params(mod, params), w1, w2


def test_a_conv_chain_lowers_to_steps_in_order_with_their_macs_and_one_arena(tmp_path):
    mod, w1, w2 = _conv_chain(tmp_path)
    lowered = lower(mod)
    # the two convolutions (ReLU fused into the first) in the order of the graph
    assert [layer.op for layer in lowered.layers] == ["conv2d", "conv2d"]
    assert [layer.macs for layer in lowered.layers] == [4 * 4 * 4 * 2 * 3 * 3, 3 * 4 * 4 * 4]
    assert [t.kind for t in lowered.inputs] == ["input"] and [t.kind for t in lowered.outputs] == ["output"]
    assert lowered.inputs[0].shape == (1, 2, 6, 6) and lowered.outputs[0].shape == (1, 3, 4, 4)
    # the weights are constants, byte for byte; the one intermediate lives in the arena
    assert sorted(a.tobytes() for a in lowered.constants.values()) == sorted([w1.tobytes(), w2.tobytes()])
    assert lowered.weights_bytes == w1.nbytes + w2.nbytes
    (between,) = [t for t in lowered.tensors.values() if t.kind == "activation"]
    assert between.shape == (1, 4, 4, 4) and between.name in lowered.arena_offsets
    assert lowered.arena_bytes >= between.nbytes
    assert lowered.steps[0].outputs == (between.name,) and between.name in lowered.steps[1].args
    assert not lowered.output_copies


def test_an_output_that_is_an_input_is_copied(tmp_path):
    path = _model(tmp_path, [helper.make_node("Identity", ["x"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], name="identity")
    mod, params = tvm_stm32dvfs.from_onnx(path)
    lowered = lower(_bind_params(mod, params))
    assert lowered.steps == () and lowered.output_copies == ((0, lowered.inputs[0].name),)


def test_a_module_without_main_and_a_dynamic_shape_are_clear_errors(tmp_path):
    mod, _, _ = _conv_chain(tmp_path)
    renamed = tvm.IRModule({"other": mod["main"]})
    with pytest.raises(UnsupportedOperatorError, match="no 'main'"):
        lower(renamed)
    @tvm.script.ir_module
    class Dynamic:
        @R.function
        def main(x: R.Tensor(("n", 4), "float32")):
            with R.dataflow():
                y = R.nn.relu(x)
                R.output(y)
            return y

    with pytest.raises(DynamicShapeError, match="dynamic dimension"):
        lower(Dynamic)
