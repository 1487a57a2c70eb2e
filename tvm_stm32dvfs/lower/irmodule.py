"""The one way the passes here change functions of an IRModule."""

from __future__ import annotations

import tvm


def replace_functions(mod: tvm.IRModule, updates: dict) -> tvm.IRModule:
    """``mod`` with the functions of ``updates`` (GlobalVar -> function) replaced, its other
    functions and attributes kept; ``mod`` itself when there is nothing to replace."""
    if not updates:
        return mod
    out = tvm.IRModule(dict(mod.functions_items()), attrs=mod.attrs)
    for gv, func in updates.items():
        out[gv] = func
    return out
