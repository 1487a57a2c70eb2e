"""The four MLPerf Tiny reference models (tests/data/mlperf_tiny, README.md there) as a user gets
them: the tf2onnx conversions compile, equal the exact QDQ semantics bit for bit on full-range
int8 inputs, run bit-exactly in the emulator, and are planned at twice their minimum latency and
evaluated against the TinyEngine-style policies on the default board."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.boards import load
from tvm_stm32dvfs.errors import ModelFormatError, Stm32DvfsWarning

MLPERF = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny"
ONNX = sorted(MLPERF.glob("*.onnx"))
TFLITE = sorted(MLPERF.glob("*.tflite"))
BOARD = "stm32f746g-disco"


def test_the_four_reference_models_are_in_the_tree_in_both_forms():
    assert [p.stem for p in ONNX] == [p.stem for p in TFLITE] == [
        "ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "vww_96_int8"]
    readme = (MLPERF / "README.md").read_text()
    assert "1afd2c9820f795965a6134facd0b4dfae41ef23f" in readme and "Apache-2.0" in readme


@functools.lru_cache(maxsize=None)
def _module(stem: str):
    with pytest.warns(Stm32DvfsWarning, match="dynamic batch dimension"):
        return tvm_stm32dvfs.from_onnx(MLPERF / f"{stem}.onnx")


@pytest.mark.slow
@pytest.mark.parametrize("dae", [False, True], ids=["plain", "default"])
@pytest.mark.parametrize("path", ONNX, ids=lambda p: p.stem)
def test_converted_model_equals_the_exact_semantics_on_full_range_inputs(path, dae):
    from tvm_stm32dvfs.evaluate.validate import full_range_inputs, validate

    mod, params = _module(path.stem)
    compiled = tvm_stm32dvfs.build(mod, params=params, dae=dae, model_name=path.stem)
    assert compiled.inputs[0].dtype == "int8" and compiled.outputs[0].dtype == "int8"
    import onnx

    drawn = np.stack([f[compiled.inputs[0].name] for f in full_range_inputs(compiled, onnx.load(path), 8, 0)])
    assert drawn.min() == -128 and drawn.max() == 127, "full-range inputs"
    report = validate(compiled, path, n_inputs=8, seed=0, sanitize=True)
    assert report.bit_exact, report


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("path", ONNX, ids=lambda p: p.stem)
def test_converted_model_runs_bit_exactly_in_the_emulator(path):
    from tvm_stm32dvfs.evaluate.validate import validate_emulation

    mod, params = _module(path.stem)
    compiled = tvm_stm32dvfs.build(mod, params=params, granularity="largest", model_name=path.stem)
    report = validate_emulation(compiled, n_inputs=2, seed=1)
    assert report.identical == report.n_inputs and report.instructions > 0


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("path", ONNX, ids=lambda p: p.stem)
def test_converted_model_planned_at_twice_its_minimum_latency_and_evaluated(path):
    from tvm_stm32dvfs.evaluate.energy import evaluate_policies
    from tvm_stm32dvfs.optimize.from_profile import plan_problem
    from tvm_stm32dvfs.optimize.plan import minimum_latency_ms
    from tvm_stm32dvfs.profile import profile

    board = load(BOARD)
    mod, params = _module(path.stem)
    compiled = tvm_stm32dvfs.build(mod, params=params, model_name=path.stem)
    measured = profile(compiled, board)
    fastest = minimum_latency_ms(plan_problem(measured, board, 1e9))
    planned = tvm_stm32dvfs.build(mod, params=params, model_name=path.stem, latency_ms=2 * fastest)
    assert fastest < planned.plan.predicted_latency_ms <= 2 * fastest
    rows = evaluate_policies(compiled, board, measured, budgets_ms=[2 * fastest], method="dp")
    by_policy = {r.policy: r for r in rows}
    assert by_policy["dae_dvfs"].feasible and by_policy["tinyengine_sleep"].feasible
    assert by_policy["dae_dvfs"].energy_uj <= by_policy["tinyengine_sleep"].energy_uj


def test_tflite_files_get_a_one_line_error_saying_how_to_convert():
    with pytest.raises(ModelFormatError, match=r"not imported yet.*tf2onnx.convert --tflite kws_ref_model.tflite"):
        tvm_stm32dvfs.load_model(MLPERF / "kws_ref_model.tflite")


def test_onnx_files_load_through_the_same_entry_point():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Stm32DvfsWarning)
        mod, _ = tvm_stm32dvfs.load_model(MLPERF / "ad01_int8.onnx")
    assert "main" in [gv.name_hint for gv in mod.get_global_vars()]
