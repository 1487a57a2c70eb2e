"""The four MLPerf Tiny reference models (tests/data/mlperf_tiny, README.md there) as a user gets
them, in both forms: the published .tflite files equal the TFLite interpreter's reference kernels
bit for bit, their tf2onnx conversions the exact QDQ semantics, on full-range int8 inputs, plain
and with DAE tiles; they run bit-exactly in the emulator, and are planned at twice their minimum
latency and evaluated against the TinyEngine-style policies on the default board."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.boards import load
from tvm_stm32dvfs.errors import Stm32DvfsWarning

MLPERF = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny"
ONNX = sorted(MLPERF.glob("*.onnx"))
TFLITE = sorted(MLPERF.glob("*.tflite"))
BOARD = "stm32f746g-disco"


def test_the_four_reference_models_are_in_the_tree_in_both_forms():
    assert [p.stem for p in ONNX] == [p.stem for p in TFLITE] == [
        "ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "vww_96_int8"]
    readme = (MLPERF / "README.md").read_text()
    assert "1afd2c9820f795965a6134facd0b4dfae41ef23f" in readme and "Apache-2.0" in readme


MODELS = ONNX + TFLITE


def _id(path: Path) -> str:
    return f"{path.stem}{path.suffix}"


@functools.lru_cache(maxsize=None)
def _module(path: Path):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", Stm32DvfsWarning)
        mod, params = tvm_stm32dvfs.load_model(path)
    notes = [str(w.message) for w in seen if issubclass(w.category, Stm32DvfsWarning)]
    # tf2onnx leaves the batch dynamic (one note); a .tflite input has its static batch of 1
    assert len(notes) == (1 if path.suffix == ".onnx" else 0) and all("dynamic batch" in n for n in notes), notes
    return mod, params


@pytest.mark.slow
@pytest.mark.parametrize("granularity", [False, None, "largest"], ids=["plain", "default", "largest"])
@pytest.mark.parametrize("path", MODELS, ids=_id)
def test_reference_model_equals_its_exact_semantics_on_full_range_inputs(path, granularity):
    from tvm_stm32dvfs.evaluate.validate import full_range_inputs, source_model, validate

    mod, params = _module(path)
    options = dict(dae=False) if granularity is False else dict(granularity=granularity)
    compiled = tvm_stm32dvfs.build(mod, params=params, model_name=path.stem, **options)
    assert compiled.inputs[0].dtype == "int8" and compiled.outputs[0].dtype == "int8"
    drawn = np.stack([f[compiled.inputs[0].name] for f in full_range_inputs(compiled, source_model(path), 8, 0)])
    assert drawn.min() == -128 and drawn.max() == 127, "full-range inputs"
    report = validate(compiled, path, n_inputs=8, seed=0, sanitize=granularity is None)
    assert report.bit_exact, report


def test_tflite_model_keeps_its_nhwc_input_and_output_shapes():
    from ai_edge_litert.interpreter import Interpreter

    for path in TFLITE:
        mod, params = _module(path)
        compiled = tvm_stm32dvfs.build(mod, params=params, dae=False)
        interpreter = Interpreter(model_path=str(path))
        assert compiled.inputs[0].shape == tuple(interpreter.get_input_details()[0]["shape"])
        assert compiled.outputs[0].shape == tuple(interpreter.get_output_details()[0]["shape"])


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("path", MODELS, ids=_id)
def test_reference_model_runs_bit_exactly_in_the_emulator(path):
    from tvm_stm32dvfs.evaluate.validate import validate_emulation

    mod, params = _module(path)
    compiled = tvm_stm32dvfs.build(mod, params=params, granularity="largest", model_name=path.stem)
    report = validate_emulation(compiled, n_inputs=2, seed=1)
    assert report.identical == report.n_inputs and report.instructions > 0


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("path", MODELS, ids=_id)
def test_reference_model_planned_at_twice_its_minimum_latency_and_evaluated(path):
    from tvm_stm32dvfs.evaluate.energy import evaluate_policies
    from tvm_stm32dvfs.optimize.from_profile import plan_problem
    from tvm_stm32dvfs.optimize.plan import minimum_latency_ms
    from tvm_stm32dvfs.profile import profile

    board = load(BOARD)
    mod, params = _module(path)
    compiled = tvm_stm32dvfs.build(mod, params=params, model_name=path.stem)
    measured = profile(compiled, board)
    fastest = minimum_latency_ms(plan_problem(measured, board, 1e9))
    planned = tvm_stm32dvfs.build(mod, params=params, model_name=path.stem, latency_ms=2 * fastest)
    assert fastest < planned.plan.predicted_latency_ms <= 2 * fastest
    rows = evaluate_policies(compiled, board, measured, budgets_ms=[2 * fastest], method="dp")
    by_policy = {r.policy: r for r in rows}
    assert by_policy["dae_dvfs"].feasible and by_policy["tinyengine_sleep"].feasible
    assert by_policy["dae_dvfs"].energy_uj <= by_policy["tinyengine_sleep"].energy_uj


def test_unsupported_tflite_operators_are_one_error_naming_them(tmp_path):
    """The ops of a .tflite file outside the supported set, all at once, with where they are."""
    from tvm_stm32dvfs.errors import UnsupportedOperatorError
    from tvm_stm32dvfs.frontend.tflite import TfliteImporter, _read

    path = MLPERF / "kws_ref_model.tflite"
    importer = TfliteImporter(_read(path), path, None)
    importer.ops = [("MEAN", op) if name == "AVERAGE_POOL_2D" else (name, op) for name, op in importer.ops]
    importer.ops[-1] = ("TANH", importer.ops[-1][1])
    with pytest.raises(UnsupportedOperatorError) as info:
        importer.run()
    message = str(info.value)
    assert message.startswith("unsupported TFLite operators: MEAN (operator #9 '") and "TANH (operator #12" in message
    assert "Supported: ADD, AVERAGE_POOL_2D" in message and "\n" not in message


def test_a_file_that_is_not_tflite_is_one_line(tmp_path):
    from tvm_stm32dvfs.errors import ModelFormatError

    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFormatError, match="not a TensorFlow Lite model"):
        tvm_stm32dvfs.load_model(bad)
    truncated = tmp_path / "cut.tflite"
    truncated.write_bytes((MLPERF / "kws_ref_model.tflite").read_bytes()[:4000])
    with pytest.raises(ModelFormatError):
        tvm_stm32dvfs.load_model(truncated)
