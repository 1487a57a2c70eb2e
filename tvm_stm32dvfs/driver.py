"""``build``: the counterpart of the old ``relay.build`` — runs the stages in order.

The driver is the only module that knows every stage; the stages know only their predecessors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np
import tvm
from tvm import relax

from .codegen import CSources, emit_sources
from .errors import InputMismatchError, Stm32DvfsError
from .frontend import param_keys
from .lower import LoweredModel, lifetimes, lower, scratch_key
from .lower.planner import ALIGNMENT, align_up
from .vocabulary import DEFAULT_SOLVER
from .boards.target import board_of_target
from .transform import DecoupleAccessExecute

Inputs = Union[np.ndarray, Mapping[str, np.ndarray], Sequence[np.ndarray]]


@dataclass(frozen=True)
class CompiledModel:
    """A model compiled for one board: its layers, memory figures and generated C."""

    board: str
    lowered: LoweredModel = field(repr=False)
    sources: CSources = field(repr=False)
    model_name: str = "model"
    #: the bound Relax module it was built from (to rebuild it at other DAE granularities)
    source_mod: tvm.IRModule | None = field(default=None, repr=False, compare=False)
    #: the DVFS plan (a DvfsPlan) when built with a latency budget, else None
    plan: object = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------- figures (of the lowered model)
    layers = property(lambda self: self.lowered.layers, doc="Fused operators (``Layer``) in execution order.")
    arena_bytes = property(lambda self: self.lowered.arena_bytes,
                           doc="Peak activation SRAM of the static plan (activations + kernel scratch).")
    weights_bytes = property(lambda self: self.lowered.weights_bytes, doc="Constant data (flash).")
    inputs = property(lambda self: self.lowered.inputs, doc="The model's inputs (``TensorInfo``).")
    outputs = property(lambda self: self.lowered.outputs, doc="The model's outputs (``TensorInfo``).")

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    # ------------------------------------------------------------- outputs
    def export_c(self, directory: Union[str, Path]) -> list[Path]:
        """Write the model sources into ``directory``: all files or none (they are written to a
        sibling temporary folder first and moved into place)."""
        from .files import write_tree_atomically

        return write_tree_atomically(dict(self.sources.files), Path(directory))

    def export_project(self, directory: Union[str, Path], x: Inputs | None = None, repeat: int = 10) -> list[Path]:
        """Write the firmware project (CMake; model, runtime and clock driver; start-up code and
        linker script of the board; an application running ``repeat`` inferences on ``x``, by
        default a seeded random input) into ``directory``: all files or none. Raises
        :class:`~tvm_stm32dvfs.errors.ResourceLimitError` when the model cannot fit the board."""
        from .boards import load
        from .files import write_tree_atomically
        from .project.firmware import project_files
        from .vocabulary import STACK_BYTES
        from .errors import ResourceLimitError

        board = load(self.board)
        ram_bytes = board.memory_map.ram_bytes
        outputs = sum(o.nbytes for o in self.outputs)
        need_ram = self.arena_bytes + outputs + STACK_BYTES
        if need_ram > ram_bytes:
            raise ResourceLimitError(f"{self.model_name} needs {need_ram} B of SRAM (arena {self.arena_bytes} B + outputs "
                                     f"{outputs} B + stack {STACK_BYTES} B), {board.name} has {ram_bytes} B: use smaller "
                                     "DAE tiles, an int8 model or a board with more SRAM")
        need_flash = self.weights_bytes + sum(t.nbytes for t in self.inputs)
        if need_flash > board.flash_bytes:
            raise ResourceLimitError(f"{self.model_name} needs {need_flash} B of flash (weights + test input), "
                                     f"{board.name} has {board.flash_bytes} B: quantize it or pick a larger board")
        arrays = self._input_arrays(self.sample_inputs() if x is None else x)
        files = project_files(self.sources, board, self.model_name, arrays, [o.nbytes for o in self.outputs],
                              len(self.layers), self.arena_bytes, self.weights_bytes, repeat)
        return write_tree_atomically(files, Path(directory))

    def sample_inputs(self, seed: int = 0) -> list[np.ndarray]:
        """A seeded random input per model input (normal floats, int8 in [-100, 100)): with seed 0,
        what the profile, the evaluation and the exported application run when given none."""
        rng = np.random.default_rng(seed)
        return [rng.standard_normal(t.shape).astype(t.dtype) if t.dtype.startswith("float")
                else rng.integers(-100, 100, size=t.shape).astype(t.dtype) for t in self.inputs]

    def _input_arrays(self, x: Inputs) -> list[np.ndarray]:
        specs = self.inputs
        if isinstance(x, np.ndarray):
            if len(specs) != 1:
                raise InputMismatchError(
                    f"the model has {len(specs)} inputs ({', '.join(s.name for s in specs)}): pass a dict by name"
                )
            given = [x]
        elif isinstance(x, Mapping):
            missing = [s.name for s in specs if s.name not in x]
            extra = [k for k in x if k not in {s.name for s in specs}]
            if missing or extra:
                raise InputMismatchError(
                    f"inputs by name: missing {missing or 'none'}, unknown {extra or 'none'} "
                    f"(the model's inputs: {', '.join(s.name for s in specs)})"
                )
            given = [x[s.name] for s in specs]
        else:
            given = list(x)
            if len(given) != len(specs):
                raise InputMismatchError(f"{len(given)} inputs given, the model has {len(specs)}")
        arrays = []
        for spec, a in zip(specs, given):
            a = np.asarray(a)
            if tuple(a.shape) != spec.shape:
                raise InputMismatchError(
                    f"input '{spec.name}' has shape {tuple(a.shape)}, the model expects {spec.shape}"
                )
            if str(a.dtype) != spec.dtype:
                raise InputMismatchError(
                    f"input '{spec.name}' has dtype {a.dtype}, the model expects {spec.dtype} "
                    f"(convert with .astype(np.{spec.dtype}))"
                )
            arrays.append(np.array(a, order="C"))
        return arrays

    def variant(self, dae: bool = True, granularity=None) -> "CompiledModel":
        """The same model built again for the same board with other tiles (``build``'s ``dae``
        and ``granularity``): what the profile measures."""
        return build(self.source_mod, target=f"stm32dvfs-{self.board}", model_name=self.model_name, dae=dae,
                     granularity=granularity)

    def with_plan(self, plan) -> "CompiledModel":
        """This model rebuilt to follow ``plan`` (a :class:`~tvm_stm32dvfs.optimize.DvfsPlan` of
        its profile, applied by :func:`~tvm_stm32dvfs.optimize.apply.apply_plan`: each layer at
        the plan's tile and clock states) with the C plan table emitted."""
        from .optimize.apply import apply_plan

        if len(plan.choices) != len(self.layers):
            raise Stm32DvfsError(f"a plan of {len(plan.choices)} layers for {self.model_name}, which has "
                                 f"{len(self.layers)}: plan it from this model's profile")
        lowered = apply_plan(self.source_mod, plan)
        sources = emit_sources(lowered, model_name=self.model_name, board=self.board,
                               plan_initial_state=plan.initial_state, plan_idle_mode=plan.idle_mode)
        return CompiledModel(board=self.board, lowered=lowered, sources=sources, model_name=self.model_name,
                             source_mod=self.source_mod, plan=plan)

    def at_clock_state(self, state: str) -> "CompiledModel":
        """This model, its tiles kept, with every phase of every layer at the clock state
        ``state`` (a ClockState id) and the plan table emitted: what the profile runs, so that the
        firmware's per-phase plan lookups are part of every layer's time (the table never
        switches, so no clock driver runs)."""
        from .optimize.apply import with_clock_states

        lowered = with_clock_states(self.lowered, [(state, state)] * len(self.layers))
        sources = emit_sources(lowered, model_name=self.model_name, board=self.board, plan_initial_state=state,
                               plan_idle_mode="busy")
        return CompiledModel(board=self.board, lowered=lowered, sources=sources, model_name=self.model_name,
                             source_mod=self.source_mod)

    def run_host(self, x: Inputs, sanitize: bool = False):
        """Run the generated C on this machine (gcc).

        ``x``: an ndarray for a single-input model, else a dict by input name (or a list in
        order). Returns an ndarray for a single-output model, else a list. With ``sanitize``
        the C runs as an executable under AddressSanitizer and UBSan instead of through ctypes.
        """
        from .sim import host

        arrays = self._input_arrays(x)
        specs = [(o.shape, o.dtype) for o in self.outputs]
        if sanitize:
            outs = host.run_sanitized(host.build_sanitized_harness(self.sources), arrays, specs)
        else:
            outs = host.run_shared(host.build_shared_library(self.sources), arrays, specs)
        return outs[0] if len(outs) == 1 else outs


def _bind_params(mod: tvm.IRModule, params: Mapping[str, np.ndarray] | None) -> tvm.IRModule:
    if not params:
        return mod
    by_key = dict(zip(param_keys(mod["main"]), mod["main"].params))
    unknown = [k for k in params if k not in by_key]
    if unknown:
        raise InputMismatchError(f"params name no parameter of main: {', '.join(unknown[:5])}")
    # bound by variable, not name: imported names can repeat; np.array keeps 0-d shapes
    bound = {by_key[k]: tvm.runtime.tensor(np.array(v, order="C")) for k, v in params.items()}
    mod = relax.transform.BindParams("main", bound)(mod)
    main = mod["main"]
    if main.attrs is not None and "num_input" in main.attrs:
        mod["main"] = main.without_attr("num_input")
    return mod


def build(
    mod: tvm.IRModule,
    target: Union[str, tvm.target.Target] = "stm32dvfs",
    params: Mapping[str, np.ndarray] | None = None,
    model_name: str = "model",
    dae: bool = True,
    granularity=None,
    latency_ms: float | None = None,
    period_ms: float | None = None,
    plan_method: str = DEFAULT_SOLVER,
    max_granularities: int = 3,
    cycle_model: Union[str, Path, None] = None,
) -> CompiledModel:
    """Compile a Relax module (from :func:`tvm_stm32dvfs.from_onnx`) for an STM32 target.

    ``target``: ``"stm32dvfs"`` (the default board) or ``"stm32dvfs-<board>"``, as a string or a
    resolved :class:`tvm.target.Target`. ``dae``: split int8 convolutions and dense layers into
    decoupled access/execute tiles (False keeps the plain kernels, the TinyEngine-style
    baseline). ``granularity``: None gives a layer tiles only where they are neither slower nor
    bigger than its plain kernel (the arena stays the plain build's, see
    :func:`_lower_with_default_tiles`); ``"largest"`` the tiles with the fewest phase events
    within :data:`~tvm_stm32dvfs.dae.DEFAULT_TILE_BUDGET` in every layer, whatever the arena;
    else as :class:`~tvm_stm32dvfs.transform.DecoupleAccessExecute` takes it.

    ``latency_ms``: plan the clocks. The model is profiled in the emulator (plain and at up to
    ``max_granularities`` DAE tiles per layer), the minimum-energy plan within the budget is
    solved (``plan_method``: dp, exact, z3 or greedy; the period defaults to the budget), annotated on
    the PrimFuncs by :class:`~tvm_stm32dvfs.transform.AnnotateDvfs` and emitted as the C plan
    table (plan.c); ``CompiledModel.plan`` holds it. An unreachable budget raises
    :class:`~tvm_stm32dvfs.errors.InfeasibleBudgetError` with the minimum achievable latency.
    ``cycle_model``: the profile's cycle model from a file (``stm32dvfs calibrate`` or
    ``stm32dvfs run --calibrate``) instead of the bundled coefficients.
    """
    board = board_of_target(target)
    if not isinstance(mod, tvm.IRModule):
        raise Stm32DvfsError(f"build() takes a tvm.IRModule (from tvm_stm32dvfs.from_onnx), got {type(mod).__name__}")
    if latency_ms is not None:
        return _build_planned(mod, board, params, model_name, dae, granularity, latency_ms, period_ms, plan_method,
                              max_granularities, cycle_model)
    mod = _bind_params(mod, params)
    if dae and granularity is None:
        lowered = _lower_with_default_tiles(mod)
    else:
        if isinstance(granularity, str) and granularity != "largest":
            raise Stm32DvfsError(f"granularity={granularity!r}: give None, 'largest', a Granularity, a mapping "
                                 "or a callable")
        choice = None if granularity == "largest" else granularity
        lowered = lower(mod, tir_transforms=[DecoupleAccessExecute(choice)] if dae else [])
    sources = emit_sources(lowered, model_name=model_name, board=board)
    return CompiledModel(board=board, lowered=lowered, sources=sources, model_name=model_name, source_mod=mod)


#: Fewest output pixels of a DAE tile that is not the layer's full height. A tile widens its
#: weight slice once for its pixels; measured (emulated, per layer, against the plain kernel) on
#: the bundled and MLPerf Tiny models, tiles of 5 and 8 pixels ran 7-37 % slower than the plain
#: kernel, every tile of 12 or more pixels faster (0.34-0.96 of its instructions).
MIN_TILE_PIXELS = 16


def _lower_with_default_tiles(mod: tvm.IRModule) -> LoweredModel:
    """The lowering of a build without a plan: per layer, the DAE tile with the fewest phase
    events whose buffers fit in what the plain build's arena leaves free while that layer runs
    (and within :data:`~tvm_stm32dvfs.dae.DEFAULT_TILE_BUDGET`), so the arena never grows; the
    plain kernel where no tile fits, and for a dense layer of one row, whose weights are each
    used once: widening them for the SIMD core costs more than it saves (measured on the MLPerf
    Tiny autoencoder: +36 % instructions, arena 11,648 B against 1,408 B). A tile of part of the
    layer's rows must also cover :data:`MIN_TILE_PIXELS` output pixels, or it is slower than the
    plain kernel.
    """
    from . import dae

    plain = lower(mod, scratch_after_activations=True)
    untiered_build = lower(mod)  # what build(dae=False) gives
    untiered = untiered_build.arena_bytes
    live = {n: span for n, span in lifetimes(plain.steps, plain.output_copies).items()
            if n in plain.arena_offsets}
    headroom: dict[str, int] = {}
    for i, step in enumerate(plain.steps):
        top = max((plain.arena_offsets[n] + plain.tensors[n].nbytes for n, (first, last) in live.items()
                   if first <= i <= last), default=0)
        room = plain.arena_bytes - align_up(top, ALIGNMENT)
        headroom[step.kernel] = min(headroom.get(step.kernel, room), room)

    def choose(name: str, shape: dae.KernelShape):
        if shape.op == "dense" and shape.batches == 1:
            return None
        options = [o for o in dae.tile_options(shape, min(dae.DEFAULT_TILE_BUDGET, headroom.get(name, 0)))
                   if o.granularity.rows == shape.out_rows
                   or o.granularity.rows * shape.out_width >= MIN_TILE_PIXELS]
        return options[-1].granularity if options else None

    # the planner places the activations as in the plain build and each step's scratch above
    # those live across it; a decoupled kernel may keep other scratch beside its tiles (a fused
    # dequantize's int8 result), so a layer whose scratch still ends above the plain arena gets
    # that much less room, and the module is lowered again
    for _ in range(8):
        lowered = lower(mod, tir_transforms=[DecoupleAccessExecute(choose)], scratch_after_activations=True)
        if not any(k.decoupled for k in lowered.kernels.values()):
            break  # no layer takes tiles: the plain build itself
        if lowered.arena_bytes <= min(plain.arena_bytes, untiered):
            return lowered
        for i, step in enumerate(lowered.steps):
            end = max((lowered.arena_offsets[scratch_key(i, k)] + sb.nbytes
                       for k, sb in enumerate(lowered.kernels[step.kernel].scratch)), default=0)
            if end > min(plain.arena_bytes, untiered):
                headroom[step.kernel] = headroom.get(step.kernel, 0) - (end - min(plain.arena_bytes, untiered))
    return untiered_build


def _build_planned(mod, board_name, params, model_name, dae, granularity, latency_ms, period_ms, method,
                   max_granularities, cycle_model=None) -> CompiledModel:
    from dataclasses import replace

    from .boards import load
    from .optimize import solve
    from .optimize.from_profile import plan_problem
    from .vocabulary import PLAIN
    from .profile import profile

    if not latency_ms > 0:
        raise Stm32DvfsError(f"latency budget {latency_ms} ms: give a positive --latency-ms")
    if period_ms is not None and period_ms < latency_ms:
        raise Stm32DvfsError(f"period {period_ms} ms is shorter than the latency budget {latency_ms} ms: "
                             "the period must be at least the budget")
    first = build(mod, f"stm32dvfs-{board_name}", params, model_name, dae=dae, granularity=granularity)
    board = load(board_name)
    measured = profile(first, board, max_granularities=max_granularities if dae else 0, cycle_model=cycle_model)
    if not dae:  # the plan may only pick clock states for the plain kernels
        measured = replace(measured, rows=tuple(r for r in measured.rows if r.granularity == PLAIN))
    problem = plan_problem(measured, board, latency_ms, period_ms)
    return first.with_plan(solve(problem, method))
