"""The kernels' goals, as ordinary assertions on emulated instruction counts (deterministic).

Library figures: tvm_stm32dvfs/evaluate/data/library_kernels.toml (CMSIS-NN and TinyEngine
measured the same way). `benchmarks/dae.py` prints the same figures as tables.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pytest
import tvm

import tvm_stm32dvfs
from tvm_stm32dvfs import dae
from tvm_stm32dvfs.evaluate import kernels as kf
from tvm_stm32dvfs.sim.emulator import emulate
from tvm_stm32dvfs.models.zoo import ZOO

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

LAYERS = {layer.key: layer for layer in kf.reference_layers()}
#: decoupled whole-layer goals (instructions per MAC, best tile offered), in the order of LAYERS
DAE_GOALS = {"pointwise_12x12x64_64": 1.6, "pointwise_24x24x32_64": 2.0, "depthwise_3x3_s1_24x24x64": 5.0,
             "conv_3x3_s1_16x16x16_16": 1.8, "conv_3x3_s2_96x96x3_8": 2.5}


@functools.lru_cache(maxsize=None)
def _layer_module(key: str):
    return tvm_stm32dvfs.from_onnx(kf.single_layer_model(LAYERS[key]))[0]


@functools.lru_cache(maxsize=None)
def _plain(key: str) -> kf.PhaseFigures:
    return kf.measure_layer(tvm_stm32dvfs.build(_layer_module(key), dae=False), kf.layer_input(LAYERS[key]))


@functools.lru_cache(maxsize=None)
def _best_tile(key: str) -> tuple[str, kf.PhaseFigures]:
    """The best granularity offered to the optimizer (fewest instructions for the whole layer)."""
    mod = _layer_module(key)
    name, shape = next((gv.name_hint, dae.kernel_shape(f)) for gv, f in
                       tvm_stm32dvfs.transform.stm32dvfs_pipeline(dae=False)(mod).functions_items()
                       if isinstance(f, tvm.tirx.PrimFunc) and dae.kernel_shape(f) is not None)
    best = None
    for option in dae.tile_options(shape):
        compiled = tvm_stm32dvfs.build(mod, granularity={name: option.granularity})
        figures = kf.measure_layer(compiled, kf.layer_input(LAYERS[key]))
        if best is None or figures.whole < best[1].whole:
            best = (str(option.granularity), figures)
    return best


@pytest.mark.parametrize("key", list(LAYERS))
def test_plain_kernel_at_least_as_fast_as_the_best_library(key):
    layer = LAYERS[key]
    assert _plain(key).whole <= layer.library, (layer.description, _plain(key), layer.library)


@pytest.mark.parametrize("key", list(LAYERS))
def test_decoupled_layer_goal(key):
    tile, figures = _best_tile(key)
    assert figures.whole <= DAE_GOALS[key], (LAYERS[key].description, tile, figures)


@pytest.mark.parametrize("key", list(LAYERS))
def test_execute_phase_goal(key):
    tile, figures = _best_tile(key)
    goal = 3.0 if LAYERS[key].groups > 1 else 1.0
    assert figures.execute <= goal, (LAYERS[key].description, tile, figures)


MLPERF = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny"
#: the bundled int8 models, then the MLPerf Tiny reference models (tf2onnx conversions)
MODEL_PATHS = {**{n: ZOO[n].int8_path for n in sorted(ZOO) if ZOO[n].int8_path is not None},
               **{p.stem: p for p in sorted(MLPERF.glob("*.onnx"))}}
INT8_MODELS = sorted(n for n in ZOO if ZOO[n].int8_path is not None)


@functools.lru_cache(maxsize=None)
def _model(name: str, build: str):
    """``build``: "plain", "default" (the build without a plan) or "full" (the largest tiles in
    every layer: what the decoupled kernels can do, not what the default build picks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tvm_stm32dvfs.errors.Stm32DvfsWarning)  # dynamic batch
        mod, _ = tvm_stm32dvfs.from_onnx(MODEL_PATHS[name])
    options = {"plain": dict(dae=False), "default": {}, "full": dict(granularity="largest")}[build]
    compiled = tvm_stm32dvfs.build(mod, **options)
    return compiled, kf.model_figures(compiled, compiled.sample_inputs()[0])


@pytest.mark.parametrize("name", INT8_MODELS)
def test_bundled_model_plain_kernels_within_the_library_figure(name):
    _, figures = _model(name, "plain")
    assert figures.per_mac <= kf.library_model_figure(name), (name, figures.per_mac)


@pytest.mark.parametrize("name", INT8_MODELS)
def test_bundled_model_decoupled_within_four_fifths_of_the_library(name):
    _, figures = _model(name, "full")
    assert figures.per_mac <= 0.8 * kf.library_model_figure(name), (name, figures.per_mac)


@pytest.mark.parametrize("name", INT8_MODELS)
def test_decoupled_depthwise_never_slower_than_plain(name):
    plain_compiled, plain = _model(name, "plain")
    dae_compiled, decoupled = _model(name, "full")
    assert [i for i, _ in plain.depthwise] == [i for i, _ in decoupled.depthwise]
    for (i, p), (_, d) in zip(plain.depthwise, decoupled.depthwise):
        assert dae_compiled.layers[i].decoupled, dae_compiled.layers[i].name
        assert d <= p, (name, plain_compiled.layers[i].name, d, p)


@pytest.mark.parametrize("name", list(MODEL_PATHS))
def test_default_build_is_neither_slower_nor_bigger_than_plain_layer_by_layer(name):
    """Without a plan, a layer gets DAE tiles only where they beat its plain kernel and fit in
    what the plain build's arena leaves free (issue 17: the autoencoder's dense layers were 36 %
    slower and the arena 8x bigger with tiles)."""
    plain_compiled, _ = _model(name, "plain")
    compiled, _ = _model(name, "default")
    assert compiled.arena_bytes <= plain_compiled.arena_bytes, (compiled.arena_bytes, plain_compiled.arena_bytes)
    x = compiled.sample_inputs()[0]
    plain_run, run = emulate(plain_compiled, x), emulate(compiled, x)
    assert run.instructions <= plain_run.instructions
    for i, layer in enumerate(compiled.layers):
        if layer.decoupled:
            assert run.layer_instructions(i) <= plain_run.layer_instructions(i), (layer.name, layer.granularity)


def _live_activation_peak(lowered) -> int:
    """The most activation bytes alive at once (a step's inputs, outputs and everything that
    lives across it)."""
    first, last = {}, {}
    for i, step in enumerate(lowered.steps):
        for n in (*step.args, *step.outputs):
            if lowered.tensors[n].kind == "activation" or n in step.outputs:
                first.setdefault(n, i)
                last[n] = i
    for _, ref in lowered.output_copies:
        last[ref] = len(lowered.steps)
    return max(sum(lowered.tensors[n].nbytes for n in first if first[n] <= i <= last[n]
                   and lowered.tensors[n].kind == "activation") for i in range(len(lowered.steps)))


@pytest.mark.parametrize("build", ["plain", "full"])
@pytest.mark.parametrize("name", INT8_MODELS)
def test_arena_within_live_activations_and_largest_scratch(name, build):
    compiled, _ = _model(name, build)
    lowered = compiled.lowered
    scratch = max(sum(s.nbytes for s in k.scratch) for k in lowered.kernels.values())
    bound = _live_activation_peak(lowered) + scratch
    assert compiled.arena_bytes <= 1.15 * bound, (name, compiled.arena_bytes, bound)


def test_emulated_outputs_of_the_reference_layers_equal_the_host_build():
    layer = LAYERS["conv_3x3_s2_96x96x3_8"]
    compiled = tvm_stm32dvfs.build(_layer_module(layer.key))
    x = kf.layer_input(layer)
    assert np.array_equal(np.asarray(emulate(compiled, x).outputs), compiled.run_host(x))
