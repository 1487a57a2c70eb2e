"""Applying a plan: the step between optimize and codegen.

A :class:`~tvm_stm32dvfs.optimize.DvfsPlan` chooses, per layer, a tile (or the plain kernel) and
the clock states of its phases. Applying it lowers the bound Relax module again with each layer's
function annotated with its choice (:class:`~tvm_stm32dvfs.optimize.annotate.AnnotateDvfs`) and
tiled as chosen (:class:`~tvm_stm32dvfs.dae.DecoupleAccessExecute` keeps an annotated tile),
checks that every layer came out as planned, and writes the states onto the layers, which is all
the code generator reads of a plan besides its initial state and idle mode.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import tvm

from ..dae import DecoupleAccessExecute
from ..errors import Stm32DvfsError
from ..lower import LoweredModel, lower
from .annotate import AnnotateDvfs, layer_choices


def with_clock_states(lowered: LoweredModel, states: Sequence[tuple[str, str]]) -> LoweredModel:
    """``lowered`` with layer ``i`` running its access phase at ``states[i][0]`` and its execute
    phase (the whole kernel, when plain) at ``states[i][1]`` (ClockState ids)."""
    if len(states) != len(lowered.layers):
        raise Stm32DvfsError(f"clock states for {len(states)} layers, the model has {len(lowered.layers)}: "
                             "plan it from this model's profile")
    layers = tuple(replace(layer, access_state=access, execute_state=execute)
                   for layer, (access, execute) in zip(lowered.layers, states))
    return replace(lowered, layers=layers)


def apply_plan(mod: tvm.IRModule, plan) -> LoweredModel:
    """``mod`` (the bound Relax module a model was built from) lowered to follow ``plan``: each
    layer at the plan's tile, its phases at the plan's states. ``plan``: a
    :class:`~tvm_stm32dvfs.optimize.DvfsPlan`, or one LayerChoice per layer."""
    choices = layer_choices(plan)
    lowered = lower(mod, tir_transforms=[AnnotateDvfs(plan), DecoupleAccessExecute()])
    for layer, (granularity, _, _) in zip(lowered.layers, choices):
        if layer.granularity != granularity:
            raise Stm32DvfsError(f"layer {layer.name} was built with tile {layer.granularity}, the plan chose "
                                 f"{granularity}: plan it from this model's profile")
    return with_clock_states(lowered, [(access, execute) for _, access, execute in choices])
