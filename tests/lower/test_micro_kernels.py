"""DescribeMicroKernels / UseMicroKernels: which operators become library calls, with which
arguments, and that the calls compute exactly what the loops they replace computed."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper

import tvm_stm32dvfs
from tvm_stm32dvfs.codegen import emit_sources
from tvm_stm32dvfs.driver import CompiledModel
from tvm_stm32dvfs.errors import UnsupportedOperatorError
from tvm_stm32dvfs.lower import lower, relax_passes
from tvm_stm32dvfs.models.zoo import ZOO
from tvm_stm32dvfs.lower.library import KERNELS
from tvm_stm32dvfs.frontend.qnn.requant import RULE_EXACT
from tvm_stm32dvfs.lower.micro_kernels import ATTR, spec_of, use_micro_kernels


def _fused(mod):
    with tvm.transform.PassContext(opt_level=3):
        for p in relax_passes():
            mod = p(mod)
    return mod


def _specs(mod) -> dict[str, dict | None]:
    return {gv.name_hint: spec_of(f) for gv, f in _fused(mod).functions_items() if isinstance(f, tvm.tirx.PrimFunc)}


def _reference(mod) -> CompiledModel:
    lowered = lower(mod, micro_kernels=False)
    return CompiledModel("stm32f746g-disco", lowered, emit_sources(lowered))


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_conv_dense_and_quantize_of_the_bundled_models_is_a_library_call(name):
    from tvm_stm32dvfs.lower import count_macs

    mod, _ = tvm_stm32dvfs.from_onnx(ZOO[name].int8_path)
    compiled = tvm_stm32dvfs.build(mod, dae=False)
    for layer in compiled.layers:
        kernel = compiled.lowered.kernels[layer.name.split("#")[0]]
        if layer.op in ("conv2d", "depthwise_conv2d", "dense") or layer.name == "quantize":
            assert kernel.micro_kernel in KERNELS, (layer.name, kernel.micro_kernel)
            assert count_macs(kernel.func) == 0, layer.name  # no multiply-accumulate loop is left
            assert layer.macs == kernel.macs and (layer.macs > 0) == (layer.name != "quantize")


@pytest.mark.parametrize("dae", [False, True], ids=["plain", "dae"])
@pytest.mark.parametrize("name", sorted(ZOO))
def test_library_calls_equal_the_loops_they_replace(name, dae):
    mod, _ = tvm_stm32dvfs.from_onnx(ZOO[name].int8_path)
    reference = _reference(mod)
    compiled = tvm_stm32dvfs.build(mod, dae=dae)
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal(reference.inputs[0].shape).astype(np.float32) * 2
        np.testing.assert_array_equal(compiled.run_host(x), reference.run_host(x))


def _residual_model(tmp_path, ort_quantize, conv_first: bool):
    """conv -> add(other branch) in either operand order, quantized by onnxruntime."""
    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array((rng.standard_normal(s) * 0.3).astype(np.float32), n)
             for n, s in (("w0", (6, 4, 3, 3)), ("w1", (6, 6, 1, 1)))]
    operands = ["b", "a"] if conv_first else ["a", "b"]
    nodes = [helper.make_node("Conv", ["x", "w0"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "w1"], ["b"]),
             helper.make_node("Add", operands, ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 6, 6])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "f.onnx")
    return tvm_stm32dvfs.from_onnx(ort_quantize(tmp_path / "f.onnx", tmp_path / "q.onnx", [1, 4, 6, 6]))[0]


@pytest.mark.parametrize("conv_first", [True, False])
def test_fused_residual_add_in_either_operand_order(tmp_path, ort_quantize, conv_first):
    mod = _residual_model(tmp_path, ort_quantize, conv_first)
    fused = [s for n, s in _specs(mod).items() if s is not None and s.get("residual")]
    assert len(fused) == 1
    compiled = tvm_stm32dvfs.build(mod, dae=False)
    reference = _reference(mod)
    for seed in range(4):
        x = np.random.default_rng(seed).standard_normal((1, 4, 6, 6)).astype(np.float32) * 2
        np.testing.assert_array_equal(compiled.run_host(x, sanitize=seed == 0), reference.run_host(x))


def test_description_names_every_role_and_the_requantisation(tmp_path, ort_quantize):
    mod = _residual_model(tmp_path, ort_quantize, True)
    specs = {n: s for n, s in _specs(mod).items() if s is not None}
    conv = next(s for s in specs.values() if s["op"] == "conv2d" and not s.get("residual"))
    assert set(conv["params"]) == {"input", "weights", "bias", "multiplier", "shift", "output"}
    assert conv["dims"]["kernel_h"] == 3 and conv["dims"]["pad_top"] == 1 and conv["dims"]["in_channels"] == 4
    zero_point, lo, hi, fast, rounding = conv["requant"]
    assert -128 <= lo <= hi <= 127 and fast in (0, 1)
    assert rounding == RULE_EXACT, "an ONNX model rounds as QuantizeLinear does"
    quantize = next(s for s in specs.values() if s["op"] == "quantize")
    assert quantize["kernel"] == "stm32dvfs_quantize_f32_s8" and quantize["count"] == 4 * 36


def test_an_unexpected_loop_nest_in_a_decoupled_kernel_is_an_error():
    mod, _ = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].int8_path)
    from tvm_stm32dvfs import dae
    from tvm_stm32dvfs.lower import lower_primfuncs

    fused = _fused(mod)
    func = dae.decouple(fused["conv2d_nchw2"], dae.Granularity(5, 16)).with_attrs(
        {"stm32dvfs.dae": True, "stm32dvfs.granularity": "5x16"})
    flat, _ = lower_primfuncs(tvm.IRModule({"k": func}), micro_kernels=False)
    func = flat["k"]
    # a stray store outside any phase, into a buffer no micro-kernel writes
    stray = tvm.tirx.decl_buffer((4,), "int32", name="stray")
    body = tvm.tirx.SeqStmt([tvm.tirx.AllocBuffer(stray), func.body,
                             tvm.tirx.BufferStore(stray, tvm.tirx.const(0, "int32"), [tvm.tirx.const(0, "int32")])])
    with pytest.raises(UnsupportedOperatorError, match="UseMicroKernels"):
        use_micro_kernels(func.with_body(body), "k")


def test_functions_the_library_does_not_implement_keep_their_loops():
    mod, _ = tvm_stm32dvfs.from_onnx(ZOO["ic_resnet8"].int8_path)
    specs = _specs(mod)
    assert specs["avg_pool2d"] is None and specs["reshape"] is None
    fused = _fused(mod)
    assert all(ATTR not in (f.attrs or {}) for gv, f in fused.functions_items()
               if gv.name_hint in ("avg_pool2d", "reshape"))
    assert json.loads(str(fused["dense"].attrs[ATTR]))["kernel"] == "stm32dvfs_dense_s8"
