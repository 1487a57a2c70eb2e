"""Lowering: Relax IRModule -> fused, flattened PrimFuncs in execution order + a static arena plan.

This is the project's AOT layer (TVM 0.27 has no AOT executor): the Relax "zero" pipeline
legalises and fuses the graph, the TIR passes below remove blocks and flatten buffers, and the
Relax ``main`` — a straight line of ``call_tir`` bindings after fusion — *is* the execution order.
Every intermediate tensor and every large kernel scratch buffer is then placed in one static arena
by :class:`~tvm_stm32dvfs.lower.planner.GreedyMemoryPlanner`.

The result is a frozen :class:`LoweredModel`: plain data for the later stages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import tvm
import tvm_ffi
from tvm import relax, s_tir, tirx

from ..errors import DynamicShapeError, UnsupportedOperatorError
from ..vocabulary import DAE_ATTR, GRANULARITY_ATTR, PLAIN
from .planner import GreedyMemoryPlanner
from .schedule import reduce_intermediates
from .micro_kernels import ATTR as MICRO_KERNEL_ATTR
from .micro_kernels import SCRATCH, DescribeMicroKernels, UseMicroKernels

#: Kernel scratch up to this size stays on the kernel's stack; larger scratch lives in the arena.
STACK_SCRATCH_LIMIT_BYTES = 64

#: The passes of lowering in order, each with the IR it runs on: Relax -> fused PrimFuncs (TVM's
#: "zero" pipeline without the MetaSchedule database step), then scheduled TIR -> flat loops over
#: 1-D buffers with 32-bit indices (the prefix of TVM's s_tir pipeline that does not target a
#: device or the packed API).
_PIPELINE = (
    # BatchNormalization: into the preceding conv's weights where there is one, else into a
    # multiply-add that fuses with its neighbours
    ("relax", relax.transform.FoldBatchnormToConv2D), ("relax", relax.transform.DecomposeOpsForInference),
    ("relax", relax.transform.FoldConstant), ("relax", relax.transform.LegalizeOps),
    ("relax", relax.transform.AnnotateTIROpPattern), ("relax", relax.transform.FoldConstant),
    ("relax", relax.transform.FuseOps), ("relax", relax.transform.FuseTIR),
    ("relax", relax.transform.DeadCodeElimination),
    # what the int8 kernel library can run, recorded before any schedule changes the blocks
    ("relax", DescribeMicroKernels),
    ("tir", s_tir.transform.CanonicalizeLoop), ("tir", s_tir.transform.LowerInitBlock),
    ("tir", s_tir.transform.PlanAndUpdateBufferAllocationLocation), ("tir", s_tir.transform.ConvertBlocksToOpaque),
    ("tir", s_tir.transform.CompactBufferAllocation), ("tir", s_tir.transform.LowerMatchBuffer),
    ("tir", s_tir.transform.StmtSimplify), ("tir", s_tir.transform.LowerOpaqueBlock),
    ("tir", tirx.transform.FlattenBuffer), ("tir", lambda: tirx.transform.NarrowDataType(32)),
    ("tir", tirx.transform.StmtSimplify), ("tir", tirx.transform.RemoveNoOp),
    ("tir", s_tir.transform.RewriteUnsafeSelect),
)


def relax_passes() -> list[tvm.transform.Pass]:
    """Relax -> fused PrimFuncs."""
    return [make() for ir, make in _PIPELINE if ir == "relax"]


def tir_passes() -> list[tvm.transform.Pass]:
    """Scheduled TIR -> flat loops over 1-D buffers."""
    return [make() for ir, make in _PIPELINE if ir == "tir"]


def dtype_bytes(dtype: str) -> int:
    dtype = str(dtype)
    if dtype == "bool":
        return 1
    return int(re.sub(r"\D", "", dtype)) // 8


class _Sized:
    """``nbytes`` of something with ``elems`` elements of ``dtype``."""

    @property
    def nbytes(self) -> int:
        return self.elems * dtype_bytes(self.dtype)


@dataclass(frozen=True)
class TensorInfo(_Sized):
    """A tensor of the model. ``kind``: input, output, activation (arena) or constant (flash)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    kind: str

    @property
    def elems(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass(frozen=True)
class ScratchBuffer(_Sized):
    """Kernel-private scratch (e.g. a padded input copy) that the planner puts in the arena."""

    name: str
    dtype: str
    elems: int


@dataclass(frozen=True)
class Kernel:
    """One fused operator as a flattened PrimFunc, printed once and called by one or more steps."""

    name: str
    func: tirx.PrimFunc
    scratch: tuple[ScratchBuffer, ...]
    macs: int
    granularity: str = PLAIN  # its DAE tile ("rows x channels"), or PLAIN
    micro_kernel: str | None = None  # the library kernel it calls (None: generic loops)

    @property
    def decoupled(self) -> bool:
        return self.granularity != PLAIN


@dataclass(frozen=True)
class Step:
    """One call of a kernel: tensor names bound to its parameters (inputs then outputs)."""

    kernel: str
    args: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class Layer:
    """What users see of a step: a fused operator with its cost and memory figures."""

    index: int
    name: str
    op: str
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    macs: int
    weight_bytes: int
    activation_bytes: int
    granularity: str = PLAIN  # its DAE tile ("rows x channels"), or PLAIN
    #: the clock states (ClockState ids) of its phases once a plan is applied
    #: (:func:`tvm_stm32dvfs.optimize.apply.with_clock_states`), None before
    access_state: str | None = None
    execute_state: str | None = None

    @property
    def decoupled(self) -> bool:
        return self.granularity != PLAIN


@dataclass(frozen=True)
class LoweredModel:
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    tensors: dict[str, TensorInfo]
    constants: dict[str, np.ndarray]
    kernels: dict[str, Kernel]
    steps: tuple[Step, ...]
    layers: tuple[Layer, ...]
    #: output index -> tensor that must be copied into it (an input, a constant or a repeated output)
    output_copies: tuple[tuple[int, str], ...]
    arena_offsets: dict[str, int]  # activation tensor or scratch_key(step, k) -> byte offset
    arena_bytes: int
    relax_mod: tvm.IRModule = field(repr=False, compare=False)

    @property
    def weights_bytes(self) -> int:
        return sum(int(a.nbytes) for a in self.constants.values())


# --------------------------------------------------------------------------- helpers
def _static_shape(sinfo, what: str) -> tuple[tuple[int, ...], str]:
    if not isinstance(sinfo, relax.TensorType):
        raise UnsupportedOperatorError(f"{what}: only tensors are supported, got {sinfo}")
    if sinfo.shape is None:
        raise DynamicShapeError(f"{what} has an unknown shape; give it with shape={{...}} / --shape")
    dims = []
    for d in sinfo.shape.values:
        if not hasattr(d, "value"):
            raise DynamicShapeError(
                f"{what} has a dynamic dimension '{d}'; fix it with shape={{name: [..]}} / --shape NAME:1x3x32x32"
            )
        dims.append(int(d.value))
    return tuple(dims), str(sinfo.dtype)


def _c_ident(name: str) -> str:
    s = re.sub(r"\W", "_", name)
    return s if s and not s[0].isdigit() else "t_" + s


def _statements(stmt, trips: int = 1):
    """Every statement of a flattened kernel body in pre-order, with how many times it runs (the
    product of the constant extents of the loops around it)."""
    yield stmt, trips
    t = type(stmt).__name__
    if t == "SeqStmt":
        for x in stmt.seq:
            yield from _statements(x, trips)
    elif t == "For":
        yield from _statements(stmt.body, trips * int(stmt.extent.value) if hasattr(stmt.extent, "value") else trips)
    elif t in ("While", "AttrStmt", "LetStmt"):
        yield from _statements(stmt.body, trips)
    elif t == "IfThenElse":
        yield from _statements(stmt.then_case, trips)
        if stmt.else_case is not None:
            yield from _statements(stmt.else_case, trips)


def _alias_roots(func: tirx.PrimFunc) -> dict[int, int]:
    """Buffer var -> the var whose data it views (DeclBuffer chains), by object hash."""
    roots: dict[int, int] = {}
    for s, _ in _statements(func.body):
        if type(s).__name__ == "DeclBuffer":
            parent = s.data.args[0].__hash__()
            roots[s.buffer.__hash__()] = roots.get(parent, parent)
    return roots


def count_macs(func: tirx.PrimFunc) -> int:
    """Multiply-accumulates of a kernel: trip count of every ``C[i] = C[i] + a * b`` store."""
    roots = _alias_roots(func)

    def root(v) -> int:
        h = v.__hash__()
        return roots.get(h, h)

    def is_mac(store) -> bool:
        v = store.value
        if type(v).__name__ != "Add":
            return False
        for acc, prod in ((v.a, v.b), (v.b, v.a)):
            if (
                type(acc).__name__ == "TensorLoad"
                and root(acc.source) == root(store.buffer)
                and type(prod).__name__ == "Mul"
                and tvm_ffi.structural_equal(acc.indices[0], store.indices[0], map_free_vars=False)
            ):
                return True
        return False

    return sum(trips for s, trips in _statements(func.body) if type(s).__name__ == "BufferStore" and is_mac(s))


def _elems(buffer) -> int:
    elems = 1
    for d in buffer.ty.shape:
        elems *= int(d.value if hasattr(d, "value") else d)
    return elems


def in_arena(alloc) -> bool:
    """Whether an ``AllocBuffer`` of a flattened kernel is planned in the arena (a pointer
    parameter of the C function) rather than a stack array: a library kernel's scratch always,
    other buffers when they are bigger than :data:`STACK_SCRATCH_LIMIT_BYTES`."""
    if alloc.annotations is not None and SCRATCH in alloc.annotations:
        return True
    return _elems(alloc.buffer) * dtype_bytes(str(alloc.buffer.ty.dtype)) > STACK_SCRATCH_LIMIT_BYTES


def arena_scratch(func: tirx.PrimFunc) -> tuple[ScratchBuffer, ...]:
    """The ``AllocBuffer`` scratch of a flattened kernel that lives in the arena (:func:`in_arena`).

    The C emitter turns exactly these (same order, same names) into pointer parameters.
    """
    return tuple(ScratchBuffer(s.buffer.name, str(s.buffer.ty.dtype), _elems(s.buffer))
                 for s, _ in _statements(func.body) if type(s).__name__ == "AllocBuffer" and in_arena(s))


def _scheduled(func: tirx.PrimFunc) -> tirx.PrimFunc:
    """The default schedule, unless a TIR transform (DAE) already scheduled the function."""
    if func.attrs is not None and DAE_ATTR in func.attrs:
        return func
    return reduce_intermediates(func)


def lower_primfuncs(mod: tvm.IRModule, micro_kernels: bool = True) -> tuple[dict[str, tirx.PrimFunc], dict[str, int]]:
    """Flatten every PrimFunc of ``mod`` (blocks removed, 1-D buffers, int32 indices) and, with
    ``micro_kernels``, replace the loops the int8 kernel library implements by calls
    (:class:`~tvm_stm32dvfs.transform.UseMicroKernels`). Returns the functions and their MACs,
    counted on the loops before they are replaced."""
    tmod = tvm.IRModule(
        {gv: _scheduled(f) for gv, f in mod.functions_items() if isinstance(f, tirx.PrimFunc)}
    )
    with tvm.transform.PassContext(opt_level=3):
        tmod = tvm.transform.Sequential(tir_passes())(tmod)
        macs = {gv.name_hint: count_macs(f) for gv, f in tmod.functions_items()}
        if micro_kernels:
            tmod = UseMicroKernels()(tmod)
    return {gv.name_hint: f for gv, f in tmod.functions_items()}, macs


_OP_KINDS = (
    ("depthwise_conv2d", "depthwise_conv2d"),
    ("group_conv2d", "group_conv2d"),
    ("conv2d_transpose", "conv2d_transpose"),
    ("conv1d", "conv1d"),
    ("conv2d", "conv2d"),
    ("conv3d", "conv3d"),
    ("matmul", "dense"),
    ("dense", "dense"),
    ("max_pool", "max_pool"),
    ("avg_pool", "avg_pool"),
    ("adaptive_avg_pool", "avg_pool"),
    ("mean", "global_avg_pool"),
    ("softmax", "softmax"),
    ("concatenate", "concat"),
    ("transpose", "transpose"),
    ("reshape", "reshape"),
    ("add", "add"),
    ("multiply", "mul"),
    ("relu", "relu"),
    ("clip", "clip"),
)


def op_kind(kernel_name: str, input_shapes, constant_shapes) -> str:
    """A short operator kind from the fused kernel's name (FuseOps names it after its ops)."""
    name = re.sub(r"^fused_", "", kernel_name)
    kind = "elementwise"
    for key, value in _OP_KINDS:
        if name.startswith(key):
            kind = value
            break
    if kind == "conv2d" and constant_shapes:
        # grouped conv with one input channel per group and as many groups as channels
        w = constant_shapes[0]
        if len(w) == 4 and w[1] == 1 and input_shapes and len(input_shapes[0]) == 4 and input_shapes[0][1] == w[0] > 1:
            kind = "depthwise_conv2d"
    return kind


# --------------------------------------------------------------------------- main entry
def _param_name(p) -> str:
    return p.name_hint if hasattr(p, "name_hint") else p.name


class _MainReader:
    """Reads the fused ``main`` — a straight line of ``call_tir`` bindings — into tensors (with
    unique C names), constants, kernels and steps, in execution order."""

    def __init__(self, flat: dict, macs: dict, micro_kernels: bool):
        self.flat, self.macs, self.micro_kernels = flat, macs, micro_kernels
        self.tensors: dict[str, TensorInfo] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.kernels: dict[str, Kernel] = {}
        self.steps: list[Step] = []
        self.var_names: dict[int, str] = {}  # Relax var (by object hash) -> tensor name
        self.tuples: dict[int, tuple] = {}  # Relax var of a tuple -> its tensor names
        self.used_names: set[str] = set()
        self.call_tir = tvm.ir.Op.get("relax.call_tir")

    def fresh(self, base: str) -> str:
        base = _c_ident(base)
        cand, i = base, 1
        while cand in self.used_names:
            cand = f"{base}_{i}"
            i += 1
        self.used_names.add(cand)
        return cand

    def add_input(self, p, shape, dtype) -> None:
        n = self.fresh(_param_name(p))
        self.var_names[p.__hash__()] = n
        self.tensors[n] = TensorInfo(n, shape, dtype, "input")

    def arg_name(self, a, hint: str = "") -> str | tuple:
        t = type(a).__name__
        if t in ("Var", "DataflowVar"):
            try:
                return self.var_names[a.__hash__()]
            except KeyError:
                raise UnsupportedOperatorError(f"variable {a} used before definition in main") from None
        if t in ("GenericConst", "Constant"):
            arr = a.value.numpy()
            n = self.fresh(hint or f"w{len(self.constants)}")
            self.constants[n] = np.array(arr, order="C")
            self.tensors[n] = TensorInfo(n, tuple(arr.shape), str(arr.dtype), "constant")
            return n
        raise UnsupportedOperatorError(f"unsupported argument {t} in main: {a}")

    def bind(self, b) -> None:
        value = b.value
        vname = _param_name(b.var)
        vt = type(value).__name__
        if vt == "Call" and value.op.same_as(self.call_tir):
            self._call(b.var, vname, value)
        elif vt == "TupleGetItem":
            src = self.tuples.get(value.tuple_value.__hash__())
            if src is None:
                raise UnsupportedOperatorError(f"tuple access on a non-tuple in main: {value}")
            self.var_names[b.var.__hash__()] = src[int(value.index)]
        elif vt == "Tuple":
            self.tuples[b.var.__hash__()] = tuple(self.arg_name(f) for f in value.fields)
        elif vt in ("Var", "DataflowVar", "GenericConst", "Constant"):
            self.var_names[b.var.__hash__()] = self.arg_name(value)
        else:
            op = value.op.name if vt == "Call" and hasattr(value.op, "name") else vt
            raise UnsupportedOperatorError(
                f"operator {op} (binding '{vname}') could not be lowered to a kernel; it has no TIR legalization"
            )

    def _call(self, var, vname: str, value) -> None:
        """A ``call_tir`` binding: one step of its kernel, its outputs new activations."""
        kname = value.args[0].name_hint
        if kname not in self.flat:
            raise UnsupportedOperatorError(f"call_tir target {kname} is not a PrimFunc")
        f = self.flat[kname]
        # a weight is named after the tensor its layer computes and its role in the library call
        roles = {index: role for role, index in (_spec(f) or {}).get("params", {}).items()}
        args = tuple(self.arg_name(a, f"{vname}_{roles.get(k, f'c{k}')}") for k, a in enumerate(value.args[1].fields))
        outs_info = list(value.ty.fields) if isinstance(value.ty, relax.TupleType) else [value.ty]
        outs = []
        for k, si in enumerate(outs_info):
            shape, dtype = _static_shape(si, f"output of {kname}")
            on = self.fresh(vname if len(outs_info) == 1 else f"{vname}_{k}")
            self.tensors[on] = TensorInfo(on, shape, dtype, "activation")
            outs.append(on)
        if len(outs_info) == 1:
            self.var_names[var.__hash__()] = outs[0]
        else:
            self.tuples[var.__hash__()] = tuple(outs)
        if kname not in self.kernels:
            tiled = f.attrs is not None and GRANULARITY_ATTR in f.attrs
            self.kernels[kname] = Kernel(kname, f, arena_scratch(f), self.macs[kname],
                                         str(f.attrs[GRANULARITY_ATTR]) if tiled else PLAIN,
                                         _micro_kernel(f, self.micro_kernels))
        self.steps.append(Step(kname, args, tuple(outs)))

    def outputs(self, ret) -> tuple[list[TensorInfo], list[tuple[int, str]]]:
        """The model outputs, and the copies an input, a constant or a repeated output needs."""
        if type(ret).__name__ == "Tuple":
            refs = [self.arg_name(f) for f in ret.fields]
        elif ret.__hash__() in self.tuples:
            refs = list(self.tuples[ret.__hash__()])
        else:
            refs = [self.arg_name(ret)]
        outputs: list[TensorInfo] = []
        copies: list[tuple[int, str]] = []
        claimed: set[str] = set()
        for i, ref in enumerate(refs):
            if isinstance(ref, tuple):
                raise UnsupportedOperatorError("nested tuple outputs are not supported")
            info = self.tensors[ref]
            if info.kind == "activation" and ref not in claimed:
                self.tensors[ref] = TensorInfo(ref, info.shape, info.dtype, "output")
                claimed.add(ref)
                outputs.append(self.tensors[ref])
            else:
                # an input, a constant or an output listed twice: copied into its own output buffer
                on = self.fresh(f"output{i}")
                self.tensors[on] = TensorInfo(on, info.shape, info.dtype, "output")
                outputs.append(self.tensors[on])
                copies.append((i, ref))
        return outputs, copies


def lower(mod: tvm.IRModule, tir_transforms: Sequence[tvm.transform.Pass] = (),
          micro_kernels: bool = True, scratch_after_activations: bool = False) -> LoweredModel:
    """Lower a Relax module with static shapes and bound weights into a :class:`LoweredModel`.

    ``tir_transforms`` run on the fused module before its PrimFuncs are flattened (e.g.
    :class:`~tvm_stm32dvfs.transform.DecoupleAccessExecute`); functions they mark
    ``stm32dvfs.dae`` keep their schedule, the others get :func:`reduce_intermediates`.
    ``micro_kernels=False`` keeps every operator as its generic loops (the TE computations of
    :mod:`tvm_stm32dvfs.frontend.qnn.kernels`): the reference the library kernels are tested against.
    ``scratch_after_activations`` plans every activation before any kernel scratch (the default
    build's tiles use that, see ``driver._lower_with_default_tiles``).
    """
    if "main" not in [gv.name_hint for gv in mod.get_global_vars()]:
        raise UnsupportedOperatorError("the IRModule has no 'main' function")
    params = [(p, *_static_shape(p.ty, f"input '{_param_name(p)}'")) for p in mod["main"].params]
    fused = mod
    with tvm.transform.PassContext(opt_level=3):
        for p in [*relax_passes(), *tir_transforms]:
            fused = p(fused)
    flat, macs = lower_primfuncs(fused, micro_kernels)
    reader = _MainReader(flat, macs, micro_kernels)
    for p, shape, dtype in params:
        reader.add_input(p, shape, dtype)
    body = fused["main"].body
    for block in body.blocks:
        for b in block.bindings:
            reader.bind(b)
    outputs, output_copies = reader.outputs(body.body)
    tensors, steps, kernels = reader.tensors, reader.steps, reader.kernels
    offsets, arena_bytes = _plan_arena(steps, kernels, tensors, output_copies, scratch_after_activations)
    return LoweredModel(
        inputs=tuple(tensors[reader.var_names[p.__hash__()]] for p, _, _ in params),
        outputs=tuple(outputs),
        tensors=tensors,
        constants=reader.constants,
        kernels=kernels,
        steps=tuple(steps),
        layers=tuple(_layers(steps, kernels, tensors)),
        output_copies=tuple(output_copies),
        arena_offsets=offsets,
        arena_bytes=arena_bytes,
        relax_mod=fused,
    )


def _spec(func: tirx.PrimFunc) -> dict | None:
    if func.attrs is None or MICRO_KERNEL_ATTR not in func.attrs:
        return None
    import json

    return json.loads(str(func.attrs[MICRO_KERNEL_ATTR]))


def _micro_kernel(func: tirx.PrimFunc, used: bool) -> str | None:
    """The library kernel(s) a function calls: a whole-layer kernel, or a decoupled family."""
    spec = _spec(func) if used else None
    if spec is None:
        return None
    if func.attrs is not None and DAE_ATTR in func.attrs:
        family = {"conv2d": "conv2d", "depthwise_conv2d": "depthwise", "dense": "dense"}[spec["op"]]
        return f"stm32dvfs_{family}_tile_{{input,weights,execute}}_s16"
    return spec["kernel"]


def _layers(steps, kernels, tensors) -> list[Layer]:
    layers = []
    for i, s in enumerate(steps):
        ins = [tensors[a] for a in s.args]
        acts = [t for t in ins if t.kind != "constant"]
        consts = [t for t in ins if t.kind == "constant"]
        outs = [tensors[o] for o in s.outputs]
        layers.append(
            Layer(
                index=i,
                name=s.kernel if sum(1 for x in steps if x.kernel == s.kernel) == 1 else f"{s.kernel}#{i}",
                op=op_kind(s.kernel, [t.shape for t in acts], [t.shape for t in consts]),
                input_shapes=tuple(t.shape for t in acts),
                output_shapes=tuple(t.shape for t in outs),
                macs=kernels[s.kernel].macs,
                weight_bytes=sum(t.nbytes for t in consts),
                activation_bytes=sum(t.nbytes for t in acts) + sum(t.nbytes for t in outs),
                granularity=kernels[s.kernel].granularity,
            )
        )
    return layers


def scratch_key(step: int, index: int) -> str:
    """Arena key of the ``index``-th scratch buffer of step ``step``."""
    return f"{step}:scratch{index}"


def lifetimes(steps, output_copies) -> dict[str, tuple[int, int]]:
    """Tensor name -> (first step that writes it, last step that reads it) over the tensors the
    steps write; a tensor the final output copy reads lives to ``len(steps)``."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, s in enumerate(steps):
        for n in s.outputs:
            first.setdefault(n, i)
            last[n] = i
        for n in s.args:
            last[n] = i
    for _, ref in output_copies:  # read by the final copy
        last[ref] = len(steps)
    return {n: (i, last[n]) for n, i in first.items()}


def _plan_arena(steps, kernels, tensors, output_copies, scratch_after_activations: bool = False
                ) -> tuple[dict[str, int], int]:
    """Lifetimes of activations and kernel scratch -> offsets in one arena (largest first; with
    ``scratch_after_activations`` every activation before any scratch)."""
    planner = GreedyMemoryPlanner()
    for n, (first, last) in lifetimes(steps, output_copies).items():
        if tensors[n].kind == "activation":
            planner.add_buffer(n, tensors[n].nbytes, first, last)
    # with scratch after the activations, the activations sit where they would without it (a DAE
    # tile's buffers then fill the room a plain build leaves free, see driver.build)
    for i, s in enumerate(steps):
        for k, sb in enumerate(kernels[s.kernel].scratch):
            planner.add_buffer(scratch_key(i, k), sb.nbytes, i, i, tier=int(scratch_after_activations))
    return {b.name: b.offset for b in planner.buffers()}, planner.peak()
