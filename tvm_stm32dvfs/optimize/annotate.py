"""AnnotateDvfs: write a DVFS plan onto the fused PrimFuncs as function attributes.

Layer ``i`` is the ``i``-th ``call_tir`` of ``main`` (the order :func:`~tvm_stm32dvfs.lower.lower`
gives its steps). Each called PrimFunc gets ``stm32dvfs.access_state`` and
``stm32dvfs.execute_state`` (``ClockState.id`` strings) and, when the plan decouples it,
``stm32dvfs.granularity`` (the DAE tile, which :class:`DecoupleAccessExecute` then applies).
One PrimFunc called by several layers with different plans is specialised: each distinct plan
gets its own copy (``<name>_dvfs<k>``), so every function carries exactly one plan.
"""

from __future__ import annotations

from typing import Sequence

import tvm
from tvm import relax, tirx

from ..errors import Stm32DvfsError
from ..vocabulary import ACCESS_STATE_ATTR, EXECUTE_STATE_ATTR, GRANULARITY_ATTR, PLAIN



def layer_choices(plan) -> list[tuple[str, str, str]]:
    """(granularity, access state, execute state) per layer, from a DvfsPlan or a list of
    LayerChoice-like objects."""
    items = [c.key for c in plan.choices] if hasattr(plan, "choices") else list(plan)
    out = []
    for item in items:
        try:
            out.append((str(item.granularity), str(item.access_state), str(item.execute_state)))
        except AttributeError:
            raise Stm32DvfsError(f"AnnotateDvfs: {item!r} is not a layer plan (granularity, access_state, "
                                 "execute_state)") from None
    return out


def _call_tir_targets(main: relax.Function) -> list[str]:
    call_tir = tvm.ir.Op.get("relax.call_tir")
    return [b.value.args[0].name_hint for block in main.body.blocks for b in block.bindings
            if isinstance(b.value, relax.Call) and b.value.op.same_as(call_tir)]


@relax.expr_functor.mutator
class _Retarget(relax.PyExprMutator):
    """Point the k-th call_tir of a function at ``targets[k]`` (None: unchanged)."""

    def __init__(self, mod: tvm.IRModule, targets: list):
        super().__init__(mod)
        self.targets = targets
        self.index = 0
        self.call_tir = tvm.ir.Op.get("relax.call_tir")

    def visit_call_(self, call):
        if call.op.same_as(self.call_tir):
            target = self.targets[self.index]
            self.index += 1
            if target is not None:
                return relax.Call(call.op, [target, *call.args[1:]], call.attrs, call.ty_args)
        return call


@tvm.transform.module_pass(opt_level=0, name="AnnotateDvfs")
class AnnotateDvfs:
    """Annotate (and where needed specialise) the PrimFuncs of a fused module with ``plan``: a
    :class:`~tvm_stm32dvfs.optimize.DvfsPlan` built from a profile, or one LayerChoice per layer."""

    def __init__(self, plan):
        self.plan = layer_choices(plan)

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        main = mod["main"]
        names = _call_tir_targets(main)
        if len(names) != len(self.plan):
            raise Stm32DvfsError(f"AnnotateDvfs: the plan has {len(self.plan)} layers, the module {len(names)}: "
                                 "plan and module come from different models")
        variants: dict[str, dict[tuple, str]] = {}  # kernel -> plan -> function name
        for name, choice in zip(names, self.plan):
            per = variants.setdefault(name, {})
            if choice not in per:
                per[choice] = name if not per else f"{name}_dvfs{len(per)}"
        retarget = _Retarget(mod, [None] * len(names))
        funcs: dict[str, tvm.ir.GlobalVar] = {}
        for name, per in variants.items():
            original = mod[name]
            if not isinstance(original, tirx.PrimFunc):
                raise Stm32DvfsError(f"AnnotateDvfs: call_tir target {name} is not a PrimFunc")
            for (granularity, access, execute), fname in per.items():
                attrs = {ACCESS_STATE_ATTR: access, EXECUTE_STATE_ATTR: execute}
                if granularity != PLAIN:
                    attrs[GRANULARITY_ATTR] = granularity
                func = original.with_attrs(attrs)
                if fname == name:
                    gv = mod.get_global_var(name)
                    retarget.builder_.update_func(gv, func)
                else:
                    gv = retarget.builder_.add_func(func.with_attr("global_symbol", fname), fname)
                funcs[fname] = gv
        retarget.targets = [None if variants[n][c] == n else funcs[variants[n][c]] for n, c in zip(names, self.plan)]
        new_main = retarget.visit_expr(main)
        retarget.builder_.update_func(mod.get_global_var("main"), new_main)
        return retarget.builder_.get()
