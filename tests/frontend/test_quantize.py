"""quantize(): onnxruntime's static quantiser behind one call, with checked calibration data."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.errors import InputMismatchError
from tvm_stm32dvfs.frontend.quantize import quantize
from tvm_stm32dvfs.models.zoo import ZOO, calibration_set


def test_qdq_int8_with_per_channel_symmetric_weights():
    q = quantize(ZOO["kws_dscnn"].path, calibration_set("kws_dscnn"))
    ops = {n.op_type for n in q.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    assert "BatchNormalization" not in ops  # folded by onnxruntime's pre-processing
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in q.graph.initializer}
    weight_zps = [v for k, v in inits.items() if "weight" in k and k.endswith("zero_point")]
    assert weight_zps and all(v.dtype == np.int8 and not v.any() for v in weight_zps)
    weight_scales = [v for k, v in inits.items() if "weight" in k and k.endswith("scale")]
    assert any(v.size > 1 for v in weight_scales), "per-channel weight scales"


def test_deterministic_and_npz_input(tmp_path):
    calib = calibration_set("kws_dscnn")[:8]
    path = tmp_path / "calib.npz"
    np.savez(path, input=calib)
    a = quantize(ZOO["kws_dscnn"].path, calib).SerializeToString()
    b = quantize(ZOO["kws_dscnn"].path, path).SerializeToString()
    assert a == b


def test_quantized_model_compiles_to_int8():
    q = quantize(ZOO["kws_dscnn"].path, calibration_set("kws_dscnn")[:8])
    compiled = tvm_stm32dvfs.build(tvm_stm32dvfs.from_onnx(q)[0])
    assert compiled.outputs[0].shape == (1, 12)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 1, 1, 49, 11), np.float32), r"shape \(1, 1, 49, 11\), the model expects \(1, 1, 49, 10\)"),
    (np.zeros((4, 1, 1, 49, 10), np.float64), r"float64; give float32"),
    ({"other": np.zeros((2, 1, 1, 49, 10), np.float32)}, r"lacks input\(s\) input"),
])
def test_bad_calibration_data_is_a_clear_error(bad, message):
    with pytest.raises(InputMismatchError, match=message):
        quantize(ZOO["kws_dscnn"].path, bad)
