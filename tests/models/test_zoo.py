"""Bundled models: committed files equal a fresh build; int8 versions against onnxruntime.

Why int8 outputs are not always bit-identical to onnxruntime's: onnxruntime evaluates a QDQ model
in float32 (dequantize, float operator, quantize), while the kernels here compute in integers and
requantise with a fixed-point multiplier, once. Float32 rounding in onnxruntime's accumulation and
division moves a value that lies within ~1e-5 of a rounding boundary to the other side (measured:
ic_resnet8's conv_11 computes exactly -118.500007 before rounding; the kernels give -119,
onnxruntime -118). A 1-LSB difference inside the network then grows in later layers: a residual
add with a smaller output scale, the final dense layer and the softmax amplify it.

The tests therefore check two things: the kernels equal the *exact* QDQ semantics (the model
evaluated in float64 by ONNX's own reference evaluator) bit for bit, and they stay as close to
onnxruntime's float32 evaluation as that evaluation is to the exact semantics.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import tvm_stm32dvfs
from tvm_stm32dvfs.evaluate.validate import exact_reference, full_range_inputs, source_model
from tvm_stm32dvfs.models.zoo import ZOO, build_int8

INPUTS = 50


@pytest.mark.parametrize("name", sorted(ZOO))
def test_committed_models_equal_a_fresh_build(name):
    entry = ZOO[name]
    assert entry.path.read_bytes() == entry.build().SerializeToString(), "run python -m tvm_stm32dvfs.models.zoo --regenerate"
    assert entry.int8_path.read_bytes() == build_int8(name).SerializeToString()


def _output_scale(model: onnx.ModelProto) -> float:
    last = next(n for n in model.graph.node if n.output[0] == model.graph.output[0].name)
    assert last.op_type == "DequantizeLinear"
    return float(next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == last.input[1]))


def _compare(name):
    entry = ZOO[name]
    model = onnx.load(entry.int8_path)
    compiled = tvm_stm32dvfs.build(tvm_stm32dvfs.from_onnx(model)[0])
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # QDQ as defined: in float
    session = ort.InferenceSession(str(entry.int8_path), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(50)
    xs = [rng.standard_normal(compiled.inputs[0].shape).astype(np.float32) for _ in range(INPUTS)]
    ours = np.stack([compiled.run_host(x, sanitize=True) for x in xs])
    ref = np.stack([session.run(None, {"input": x})[0] for x in xs])
    lsb = np.rint(np.abs(ours - ref) / _output_scale(model))
    return compiled, ours, ref, lsb


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_int8_model_argmax_and_arena(name):
    compiled, ours, ref, _ = _compare(name)
    assert np.array_equal(ours.argmax(-1), ref.argmax(-1)), "the argmax is identical for every input"
    inner = [t.dtype for t in compiled.lowered.tensors.values() if t.kind == "activation"]
    assert "float32" not in inner[:-2], "activations stay int8 in the arena"
    mod, params = tvm_stm32dvfs.from_onnx(ZOO[name].path)
    float_arena = tvm_stm32dvfs.build(mod, params=params).arena_bytes
    assert compiled.arena_bytes < float_arena / 2


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_int8_kernels_equal_the_exact_qdq_semantics(name, tmp_path):
    """Bit-identical to the exact evaluation up to the logits, the int8 tensor the float softmax
    reads (the softmax itself runs in float32 here and in onnxruntime, by design), on full-range
    inputs (uniform over what the input quantizer maps to int8, one LSB beyond each end). The
    model's input QuantizeLinear divides a float32 input by a float32 scale, as ONNX defines it,
    in the reference too."""
    path = ZOO[name].int8_path
    model = onnx.load(path)
    logits = next(n.input[0] for n in model.graph.node if n.op_type == "Softmax")
    onnx.utils.extract_model(str(path), str(tmp_path / "logits.onnx"), ["input"], [logits])
    compiled = tvm_stm32dvfs.build(tvm_stm32dvfs.from_onnx(tmp_path / "logits.onnx")[0])
    exact = exact_reference(onnx.load(tmp_path / "logits.onnx"))
    for feed in full_range_inputs(compiled, source_model(tmp_path / "logits.onnx"), INPUTS, 50):
        x = feed[compiled.inputs[0].name]
        want = exact.run([logits], {"input": x})[0]
        np.testing.assert_array_equal(compiled.run_host(x), want.astype(np.float32))


# Measured against onnxruntime's float32 path on 50 inputs: kws_dscnn and vww_mobilenet 0 LSB (100 %
# identical); ic_resnet8 2 LSB (97.0 %), mcunet_ir 3 LSB (94.8 %). On those two residual networks
# onnxruntime's float32 evaluation is itself 2 LSB / 97.0 % and 3 LSB / 94.8 % away from the exact
# semantics that the kernels reproduce bit for bit (test above): its rare float32 misroundings
# are amplified by the residual adds, the dense layer and the softmax. Meeting the bound
# would mean reproducing onnxruntime's float32 rounding errors, not computing the model exactly.
_KNOWN_GAP = pytest.mark.xfail(
    strict=True, reason="onnxruntime float32 is 2-3 LSB from the exact QDQ semantics on residual networks (issue 4)")


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    "kws_dscnn", "vww_mobilenet",
    pytest.param("ic_resnet8", marks=_KNOWN_GAP), pytest.param("mcunet_ir", marks=_KNOWN_GAP),
])
def test_int8_model_within_one_lsb_of_onnxruntime(name):
    _, _, _, lsb = _compare(name)
    assert lsb.max() <= 1
    assert np.mean(lsb == 0) >= 0.99
