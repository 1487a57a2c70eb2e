"""DecoupleAccessExecute: the DAE tiling of :mod:`tvm_stm32dvfs.dae` as a TVM module pass."""

from __future__ import annotations

from typing import Callable, Mapping, Union

import tvm
from tvm import tirx

from ..lower.irmodule import replace_functions
from ..vocabulary import ACCESS_STATE_ATTR, DAE_ATTR, GRANULARITY_ATTR
from . import tiles as dae

GranularityChoice = Union[
    None, dae.Granularity, Mapping[str, dae.Granularity], Callable[[str, dae.KernelShape], dae.Granularity]
]


@tvm.transform.module_pass(opt_level=0, name="DecoupleAccessExecute")
class DecoupleAccessExecute:
    """Split every int8 conv2d (regular, pointwise, depthwise) and dense PrimFunc into DAE tiles.

    ``granularity``: None (per kernel, the fewest phase events within ``max_buffer_bytes``), one
    :class:`~tvm_stm32dvfs.dae.Granularity` for every kernel it divides, a mapping from PrimFunc
    name to granularity, or a callable ``(name, KernelShape) -> Granularity``. A function
    planned by :class:`AnnotateDvfs` keeps its planned tile (or stays plain). Decoupled
    functions get the attributes ``stm32dvfs.dae`` (True) and ``stm32dvfs.granularity``.
    """

    def __init__(self, granularity: GranularityChoice = None, max_buffer_bytes: int = dae.DEFAULT_TILE_BUDGET):
        self.granularity = granularity
        self.max_buffer_bytes = max_buffer_bytes

    def _choose(self, name: str, shape: dae.KernelShape) -> dae.Granularity | None:
        g = self.granularity
        if callable(g) and not isinstance(g, dae.Granularity):
            return g(name, shape)
        if isinstance(g, Mapping):
            return g.get(name)
        if isinstance(g, dae.Granularity):
            fits = shape.out_rows % g.rows == 0 and shape.out_channels % g.channels == 0
            return g if fits else dae.default_granularity(shape, self.max_buffer_bytes)
        return dae.default_granularity(shape, self.max_buffer_bytes)

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        updates = {}
        for gv, func in mod.functions_items():
            if not isinstance(func, tirx.PrimFunc) or (func.attrs is not None and DAE_ATTR in func.attrs):
                continue
            shape = dae.kernel_shape(func)
            if shape is None or shape.op not in dae.DECOUPLED_OPS:
                continue
            if func.attrs is not None and ACCESS_STATE_ATTR in func.attrs:
                # planned by AnnotateDvfs: its tile, or plain when the plan keeps the kernel whole
                planned = GRANULARITY_ATTR in func.attrs
                g = dae.Granularity.parse(str(func.attrs[GRANULARITY_ATTR])) if planned else None
            else:
                g = self._choose(gv.name_hint, shape)
            if g is None:
                continue
            new = dae.decouple(func, g)
            updates[gv] = new.with_attrs({DAE_ATTR: True, GRANULARITY_ATTR: str(g)})
        return replace_functions(mod, updates)
