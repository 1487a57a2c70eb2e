"""AnnotateDvfs: a plan onto the PrimFuncs (specialising shared ones), through DAE and lowering
into the C plan table, and the runtime following that table."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.codegen import emit_sources
from tvm_stm32dvfs.driver import _bind_params
from tvm_stm32dvfs.errors import Stm32DvfsError
from tvm_stm32dvfs.sim import host
from tvm_stm32dvfs.models.zoo import ZOO
from tvm_stm32dvfs.lower import lower
from tvm_stm32dvfs.optimize.apply import apply_plan
from tvm_stm32dvfs.optimize.from_profile import LayerChoice
from tvm_stm32dvfs.transform import AnnotateDvfs
from tvm_stm32dvfs.vocabulary import ACCESS_STATE_ATTR, EXECUTE_STATE_ATTR

BOARD = "stm32f746g-disco"
FAST, SLOW, MID = "216MHz-PLLHSE-S1OD-7WS", "25MHz-HSE-S3-0WS", "144MHz-PLLHSE-S3-4WS"


@pytest.fixture(scope="module")
def kws():
    """The int8 KWS model: its depthwise and pointwise kernels are each called by four layers."""
    mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].int8_path)
    return _bind_params(mod, params)


@pytest.fixture(scope="module")
def plain(kws):
    return tvm_stm32dvfs.build(kws, target=f"stm32dvfs-{BOARD}", dae=False, model_name="kws")


def _plan(plain, tiles: dict[int, str]) -> list[LayerChoice]:
    """Alternate states per layer, so layers sharing a kernel get different plans."""
    plan = []
    for layer in plain.layers:
        g = tiles.get(layer.index, "plain")
        if g == "plain":
            state = FAST if layer.index % 2 else SLOW
            plan.append(LayerChoice("plain", state, state))
        else:
            plan.append(LayerChoice(g, SLOW if layer.index % 4 == 1 else MID, FAST))
    return plan


def _tiles(plain) -> dict[int, str]:
    """A whole-tensor tile for every decoupled kind of layer but the first depthwise call."""
    tiles = {}
    for layer in plain.layers:
        if layer.op in ("conv2d", "depthwise_conv2d") and layer.index != 2:
            rows, channels = layer.output_shapes[0][2], layer.output_shapes[0][1]
            tiles[layer.index] = f"{rows}x{channels}"
    return tiles


def test_plan_reaches_every_layer_and_shared_kernels_are_specialised(kws, plain):
    plan = _plan(plain, _tiles(plain))
    lowered = apply_plan(kws, plan)
    assert len(lowered.layers) == len(plan)
    for layer, choice in zip(lowered.layers, plan):
        assert (layer.access_state, layer.execute_state) == (choice.access_state, choice.execute_state)
        assert layer.granularity == choice.granularity
    # one kernel per distinct plan: layers 2 (plain) and 4 (tiled) share a kernel in the source
    steps = lowered.steps
    assert steps[2].kernel != steps[4].kernel
    by_kernel = {}
    for step, choice in zip(steps, plan):
        by_kernel.setdefault(step.kernel, set()).add(choice)
    assert all(len(choices) == 1 for choices in by_kernel.values())
    # AnnotateDvfs left each layer's plan on its function
    for step, choice in zip(steps, plan):
        attrs = lowered.kernels[step.kernel].func.attrs
        assert (str(attrs[ACCESS_STATE_ATTR]), str(attrs[EXECUTE_STATE_ATTR])) == (choice.access_state,
                                                                                 choice.execute_state)


def test_a_plan_of_another_model_is_refused(kws, plain):
    plan = _plan(plain, _tiles(plain))
    with pytest.raises(Stm32DvfsError, match="the plan has"):
        apply_plan(kws, plan[:-1])


def test_planned_model_computes_what_the_plain_one_does(kws, plain, rng):
    plan = _plan(plain, _tiles(plain))
    lowered = apply_plan(kws, plan)
    sources = emit_sources(lowered, model_name="kws", board=BOARD, plan_initial_state=SLOW)
    x = rng.standard_normal(plain.inputs[0].shape).astype(np.float32)
    want = plain.run_host(x)
    lib = host.build_shared_library(sources)
    got = host.run_shared(lib, [x], [(o.shape, o.dtype) for o in plain.outputs])[0]
    np.testing.assert_array_equal(got, want)
    # the plan table names every state the plan uses, the initial one first
    table = sources.files["plan.c"]
    assert "/* 0: " + SLOW in table
    for state in (FAST, MID):
        assert state in table
    assert "STM32DVFS_MODEL_HAS_PLAN" in sources.files["model.h"]


@pytest.mark.emulator
def test_runtime_switches_exactly_where_the_plan_model_says(kws, plain, rng):
    """The C plan handler's switch count equals the count the plan problem charges: the
    intra-layer access <-> execute changes the emulator sees plus the changes between layers."""
    from tvm_stm32dvfs.boards import load
    from tvm_stm32dvfs.sim.emulator import emulate, memory_map

    plan = _plan(plain, _tiles(plain))
    lowered = apply_plan(kws, plan)
    sources = emit_sources(lowered, model_name="kws", board=BOARD, plan_initial_state=SLOW)
    compiled = tvm_stm32dvfs.CompiledModel(board=BOARD, lowered=lowered, sources=sources, model_name="kws")
    x = rng.standard_normal(plain.inputs[0].shape).astype(np.float32)
    run = emulate(compiled, x, memory=memory_map(load(BOARD)))
    expected, current = 0, SLOW
    for layer, choice in enumerate(plan):
        n = run.switches.get(layer, 0)
        assert (n > 0) == (choice.granularity != "plain")
        if current != choice.access_state:
            expected, current = expected + 1, choice.access_state
        if choice.access_state != choice.execute_state:
            expected += n
            current = choice.execute_state if n % 2 else choice.access_state
    lib_path = host.build_shared_library(sources)
    lib = ctypes.CDLL(str(lib_path))
    table = ctypes.addressof(ctypes.c_char.in_dll(lib, "stm32dvfs_model_plan"))
    lib.stm32dvfs_plan_install(ctypes.c_void_p(table))
    host.run_shared(lib_path, [x], [(o.shape, o.dtype) for o in plain.outputs])
    assert lib.stm32dvfs_plan_switches() == expected > len(plan) // 2
    assert lib.stm32dvfs_plan_status() == 0
    table_order = list(dict.fromkeys([SLOW] + [s for c in plan for s in (c.access_state, c.execute_state)]))
    assert lib.stm32dvfs_plan_current_state() == table_order.index(current)


def test_plan_of_another_model_is_rejected(kws, plain):
    plan = _plan(plain, {})[:-1]
    with pytest.raises(Stm32DvfsError, match="different models"):
        lower(kws, tir_transforms=[AnnotateDvfs(plan)])
