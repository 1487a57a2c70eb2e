"""build(): bundled models end to end on the host, against onnxruntime."""

from __future__ import annotations

import re

import numpy as np
import onnxruntime as ort
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.errors import BoardDataError, InputMismatchError
from tvm_stm32dvfs.models.zoo import ZOO


N_INPUTS = 20


@pytest.mark.xdist_group("zoo")
def test_bundled_model_matches_onnxruntime(zoo_name, zoo_model):
    """20 random inputs per model, generated C under ASan/UBSan, rtol 1e-4 / atol 1e-5."""
    compiled = zoo_model(zoo_name)
    session = ort.InferenceSession(str(ZOO[zoo_name].path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(20)
    for _ in range(N_INPUTS):
        x = rng.standard_normal(compiled.inputs[0].shape).astype(np.float32)
        ours = compiled.run_host(x, sanitize=True)
        ref = session.run(None, {"input": x})[0]
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.xdist_group("zoo")
def test_ctypes_and_sanitized_runs_agree(zoo_name, zoo_model):
    compiled = zoo_model(zoo_name)
    x = np.random.default_rng(7).standard_normal(compiled.inputs[0].shape).astype(np.float32)
    np.testing.assert_array_equal(compiled.run_host(x), compiled.run_host(x, sanitize=True))


def _textbook_macs(path) -> int:
    """Output elements x (input channels per group x kernel area) of every Conv, output elements x
    the reduced dimension of every Gemm/MatMul, from the ONNX graph and its inferred shapes."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(path))
    graph = model.graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*graph.value_info, *graph.output, *graph.input]}
    weights = {i.name: numpy_helper.to_array(i).shape for i in graph.initializer}
    total = 0
    for node in graph.node:
        out = int(np.prod(shapes[node.output[0]]))
        if node.op_type == "Conv":
            total += out * int(np.prod(weights[node.input[1]][1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            total += out * weights[node.input[1]][1 if trans_b else 0]
    return total


@pytest.mark.xdist_group("zoo")
def test_layer_table_figures(zoo_name, zoo_model):
    compiled = zoo_model(zoo_name)
    layers = compiled.layers
    assert [layer.index for layer in layers] == list(range(len(layers)))
    convs = [layer for layer in layers if "conv" in layer.op]
    assert convs, "every bundled model has convolutions"
    for layer in convs:
        assert layer.macs > 0 and layer.weight_bytes > 0
    # MACs counted in the fused TIR equal the textbook count of the ONNX graph's convs and dense layers
    assert compiled.macs == _textbook_macs(ZOO[zoo_name].path)
    assert compiled.weights_bytes == sum(layer.weight_bytes for layer in layers)
    # the arena holds at least the largest layer's output tensor that is not a model output
    inner = [layer for layer in layers[:-1]]
    assert compiled.arena_bytes >= max(4 * int(np.prod(s)) for layer in inner for s in layer.output_shapes)


def test_dscnn_first_layer_macs(zoo_model):
    """DS-CNN's first conv: 25x5 outputs x 64 channels x (10x4 kernel x 1 input channel)."""
    compiled = zoo_model("kws_dscnn")
    first = compiled.layers[0]
    assert first.op == "conv2d"
    assert first.macs == 25 * 5 * 64 * 10 * 4
    dw = [layer for layer in compiled.layers if layer.op == "depthwise_conv2d"]
    assert len(dw) == 4 and all(layer.macs == 25 * 5 * 64 * 9 for layer in dw)


def test_unknown_board_lists_the_known():
    mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].path)
    with pytest.raises(BoardDataError, match="stm32f746g-disco"):
        tvm_stm32dvfs.build(mod, target="stm32dvfs-nonexistent-board", params=params)


def test_run_host_checks_its_inputs(zoo_model):
    compiled = zoo_model("kws_dscnn")
    good = np.zeros(compiled.inputs[0].shape, dtype=np.float32)
    with pytest.raises(InputMismatchError, match="shape"):
        compiled.run_host(np.zeros((1, 1, 49, 11), dtype=np.float32))
    with pytest.raises(InputMismatchError, match="dtype float64"):
        compiled.run_host(good.astype(np.float64))
    with pytest.raises(InputMismatchError, match="unknown"):
        compiled.run_host({"input": good, "other": good})
    assert compiled.run_host({"input": good}).shape == (1, 12)


def test_export_c_writes_everything_or_nothing(tmp_path, zoo_model):
    compiled = zoo_model("kws_dscnn")
    out = tmp_path / "model"
    written = compiled.export_c(out)
    names = sorted(p.name for p in written)
    assert names == sorted(compiled.sources.files)
    assert {"model.c", "model.h", "kernels.c", "weights.c", "stm32dvfs_status.h"} <= set(names)
    text = (out / "model.h").read_text()
    assert f"STM32DVFS_MODEL_ARENA_BYTES {compiled.arena_bytes}u" in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary left behind"


def test_generated_c_never_allocates(zoo_model):
    compiled = zoo_model("ic_resnet8")
    for name, text in compiled.sources.files.items():
        for word in ("malloc", "calloc", "realloc", "free(", "TVMBackendAllocWorkspace", "TVMFFIAny", "DLTensor"):
            assert word not in text, f"{word} in {name}"


@pytest.mark.emulator
def test_build_with_a_latency_budget_plans_annotates_and_emits(int8_model, tmp_path, monkeypatch, rng):
    from tvm_stm32dvfs.errors import InfeasibleBudgetError

    monkeypatch.setenv("STM32DVFS_CACHE_DIR", str(tmp_path))
    plain = tvm_stm32dvfs.build(int8_model)
    with pytest.raises(InfeasibleBudgetError, match=r"minimum achievable latency is (\d+\.\d+) ms") as info:
        tvm_stm32dvfs.build(int8_model, latency_ms=1e-4)
    fastest = float(re.search(r"is (\d+\.\d+) ms", str(info.value)).group(1))
    budgets = (fastest * 1.05, fastest * 3)
    planned = [tvm_stm32dvfs.build(int8_model, latency_ms=b, period_ms=budgets[-1]) for b in budgets]
    for budget, compiled in zip(budgets, planned):
        plan = compiled.plan
        assert plan.predicted_latency_ms <= budget + 1e-9
        assert len(plan.choices) == len(compiled.layers)
        for layer, choice in zip(compiled.layers, plan.choices):
            assert (layer.access_state, layer.execute_state) == (choice.key.access_state, choice.key.execute_state)
            assert layer.granularity == choice.key.granularity
        assert "stm32dvfs_model_plan" in compiled.sources.files["plan.c"]
        idle = {"none": "busy"}.get(plan.idle_mode, plan.idle_mode)  # no slack left: nothing to idle
        assert f"STM32DVFS_IDLE_{idle.upper()}" in compiled.sources.files["plan.c"]
        x = rng.standard_normal(plain.inputs[0].shape).astype(np.float32)
        np.testing.assert_array_equal(compiled.run_host(x), plain.run_host(x))
        # on the board's emulated registers, with its clock driver: each phase at its planned clock
        run = tvm_stm32dvfs.emulate(compiled, x, board=compiled.board)
        np.testing.assert_array_equal(run.outputs, plain.run_host(x))
        board = tvm_stm32dvfs.boards.load(compiled.board)
        for layer, phase, snapshot in run.clock_trace:
            key = plan.choices[layer].key
            want = board.state(key.execute_state if phase == "execute" else key.access_state)
            assert snapshot.hz == want.hz
    assert planned[1].plan.predicted_energy_uj <= planned[0].plan.predicted_energy_uj
    with pytest.raises(tvm_stm32dvfs.errors.Stm32DvfsError, match="period"):
        tvm_stm32dvfs.build(int8_model, latency_ms=10, period_ms=5)
