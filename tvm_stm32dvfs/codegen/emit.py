"""Model sources: kernels, weights and the entry point, rendered from the jinja2 templates."""

from __future__ import annotations

import math

import numpy as np

from .._version import __version__
from ..lower import LoweredModel, scratch_key
from ..csources import CSources, runtime_files
from ..resources import templates
from .tir_to_c import CFunction, c_type, emit_function, helper_definitions


def _format_values(arr: np.ndarray) -> str:
    flat = arr.reshape(-1)
    dtype = str(arr.dtype)
    if dtype in ("float32", "float64"):
        suffix = "f" if dtype == "float32" else ""

        def fmt(v: float) -> str:
            if math.isnan(v):
                return "NAN"
            if math.isinf(v):
                return "INFINITY" if v > 0 else "-INFINITY"
            text = f"{v:.9g}" if dtype == "float32" else f"{v:.17g}"
            if "." not in text and "e" not in text:
                text += ".0"  # "0f" is not a C literal
            return text + suffix

        items = [fmt(float(v)) for v in flat.tolist()]
    elif dtype == "bool":
        items = ["1" if v else "0" for v in flat.tolist()]
    elif dtype == "int64":
        items = [f"INT64_C({v})" if v != -(2**63) else "INT64_MIN" for v in flat.tolist()]
    else:
        items = [str(v) for v in flat.tolist()]
    per_line = 8
    return ",\n".join("  " + ", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line))


def _dtype_bytes(dtype: str) -> int:
    from ..lower import dtype_bytes

    return dtype_bytes(dtype)


def _shapes(layer) -> str:
    dims = lambda shape: "x".join(str(d) for d in shape)  # noqa: E731
    return f"{', '.join(dims(s) for s in layer.input_shapes)} -> {', '.join(dims(s) for s in layer.output_shapes)}"


def _describe_tensor(lowered: LoweredModel, name: str) -> str:
    """One line on a tensor bound to a kernel: its name in the model, type, shape and home."""
    info = lowered.tensors[name]
    shape = ",".join(str(d) for d in info.shape)
    where = {"input": "model input", "output": "model output", "constant": "flash"}.get(info.kind)
    if where is None:
        where = f"arena +{lowered.arena_offsets[name]}"
    return f"{name} {info.dtype}[{shape}], {where}"


def _arg_expr(lowered: LoweredModel, name: str, written: bool) -> str:
    info = lowered.tensors[name]
    ct = c_type(info.dtype)
    if info.kind == "input":
        idx = [t.name for t in lowered.inputs].index(name)
        return f"(const {ct}*)inputs[{idx}]"
    if info.kind == "output":
        idx = [t.name for t in lowered.outputs].index(name)
        return f"({ct}*)outputs[{idx}]"
    if info.kind == "constant":
        return name
    return f"({ct}*)ARENA({lowered.arena_offsets[name]}u)"


_IDLE_MODES = {"busy": "STM32DVFS_IDLE_BUSY", "none": "STM32DVFS_IDLE_BUSY", "sleep": "STM32DVFS_IDLE_SLEEP",
               "stop": "STM32DVFS_IDLE_STOP"}


def _plan_context(lowered: LoweredModel, board: str, initial_state: str | None, idle_mode: str) -> dict | None:
    """The plan table of a model whose layers carry AnnotateDvfs' states (None without a plan).

    The states are printed as the plan names them; nothing here chooses one."""
    layers = lowered.layers
    planned = [layer.access_state is not None for layer in layers]
    if not any(planned):
        return None
    if not all(planned):
        missing = [layer.name for layer in layers if layer.access_state is None]
        raise AssertionError(f"layers without a DVFS plan: {', '.join(missing[:5])}")
    from ..boards import load
    from ..boards.clocktree import c_initializer

    spec = load(board)
    ids = [initial_state] if initial_state is not None else []
    for layer in layers:
        ids += [layer.access_state, layer.execute_state]
    order = list(dict.fromkeys(ids))
    if len(order) > 255:
        raise AssertionError("a plan with more than 255 clock states")
    states = []
    for state_id in order:
        s = spec.state(state_id)
        states.append({"id": s.id, "c": c_initializer(s)})
    index = {state_id: i for i, state_id in enumerate(order)}
    return {
        "states": states,
        "layers": [{"name": layer.name, "granularity": layer.granularity, "access": index[layer.access_state],
                    "execute": index[layer.execute_state]} for layer in layers],
        "initial": index[initial_state if initial_state is not None else layers[0].access_state],
        "idle": _IDLE_MODES[idle_mode],
    }


def emit_sources(lowered: LoweredModel, model_name: str = "model", board: str = "host",
                 plan_initial_state: str | None = None, plan_idle_mode: str = "busy") -> CSources:
    """Render the model's C sources (with plan.c when its layers carry a DVFS plan;
    ``plan_initial_state`` is the state the plan's period starts in, ``plan_idle_mode`` how it
    idles: busy, sleep or stop)."""
    functions: list[CFunction] = []
    helpers: set[str] = set()
    by_name: dict[str, CFunction] = {}
    for kname, kernel in lowered.kernels.items():
        cf, h = emit_function(kernel.func, kname)
        functions.append(cf)
        helpers |= h
        by_name[kname] = cf

    calls = []
    for i, step in enumerate(lowered.steps):
        cf = by_name[step.kernel]
        tensor_params = [p for p in cf.params if not p.scratch]
        bound = list(step.args) + list(step.outputs)
        if len(bound) != len(tensor_params):
            raise AssertionError(f"{step.kernel}: {len(bound)} tensors for {len(tensor_params)} parameters")
        args = []
        notes = []  # what each pointer is, for the comment above the call
        it = iter(bound)
        scratch_index = 0
        for p in cf.params:
            if p.scratch:
                offset = lowered.arena_offsets[scratch_key(i, scratch_index)]
                scratch_index += 1
                args.append(f"({c_type(p.dtype)}*)ARENA({offset}u)")
                notes.append(f"{p.name}: {p.elems * _dtype_bytes(p.dtype):,} B of kernel scratch at arena +{offset}")
            else:
                name = next(it)
                args.append(_arg_expr(lowered, name, p.written))
                notes.append(f"{p.name}: {_describe_tensor(lowered, name)}")
        layer = lowered.layers[i]
        kernel = lowered.kernels[step.kernel]
        title = f"{layer.op} {_shapes(layer)}"
        if kernel.micro_kernel:
            title += f", {kernel.micro_kernel}"
        if layer.decoupled:
            title += f", decoupled into tiles of {layer.granularity.replace('x', ' rows x ')} channels"
        calls.append({"index": i, "layer": layer.name, "op": layer.op, "kernel": step.kernel, "args": args,
                      "title": title, "notes": notes})

    copies = []
    for index, ref in lowered.output_copies:
        info = lowered.tensors[ref]
        src = _arg_expr(lowered, ref, False)
        copies.append({"index": index, "source": src, "nbytes": info.nbytes})

    weights = [
        {
            "name": name,
            "ctype": c_type(str(arr.dtype)),
            "elems": max(int(arr.size), 1),
            "shape": list(arr.shape) or [1],
            "data": _format_values(arr) if arr.size else "  0",
        }
        for name, arr in lowered.constants.items()
    ]
    ctx = {
        "model_name": model_name,
        "version": __version__,
        "board": board,
        "arena_bytes": lowered.arena_bytes,
        "arena_words": max(1, (lowered.arena_bytes + 7) // 8),
        "weights_bytes": lowered.weights_bytes,
        "num_layers": len(lowered.layers),
        "num_inputs": len(lowered.inputs),
        "num_outputs": len(lowered.outputs),
        "inputs": lowered.inputs,
        "outputs": lowered.outputs,
        "calls": calls,
        "copies": copies,
        "functions": functions,
        "helpers": helper_definitions(helpers),
        "weights": weights,
    }
    plan = _plan_context(lowered, board, plan_initial_state, plan_idle_mode)
    ctx["has_plan"] = plan is not None
    env = templates("codegen")
    outs = ["model.h", "model.c", "kernels.h", "kernels.c", "weights.h", "weights.c"]
    if plan is not None:
        ctx.update(plan)
        outs.append("plan.c")
    files = {out: env.get_template(f"{out}.j2").render(**ctx) for out in outs}
    return CSources({**files, **runtime_files()})
