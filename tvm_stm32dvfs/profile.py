"""Profile: the cost of every (layer, granularity, phase, DVFS state) — what the optimizer reads.

One emulated inference per granularity option (not per state): the model is rebuilt with every
decoupled kernel at its k-th offered tile (and once plain, without DAE), run in the emulator
with instruction classes and flash data reads counted per layer and phase, and the cycle model
turns those counts into cycles at each candidate state of the board (its flash wait states);
time is cycles over frequency, energy the board's power model over those cycles. Figures are
modelled, not measured: emulated counts x cited coefficients (see docs/evaluate.md).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable

from . import dae
from ._version import __version__
from .boards import Board
from .sim.cycles import load_cycle_model
from .errors import ResourceLimitError
from .files import write_text_atomically
from .sim.emulator import emulate, memory_map
from .sim.switches import switch_cycles
from .vocabulary import PLAIN, STACK_BYTES

#: RAM the runtime, the clock driver and libc keep besides the arena and the stack (estimate:
#: the .data and .bss of the emulated builds are well under it)
RUNTIME_DATA_BYTES = 2048
PROFILE_FORMAT = 6  # bumped when the rows change meaning: old cache entries are ignored (6: DMA builds)


@dataclass(frozen=True)
class PhaseCost:
    layer: int
    layer_name: str
    granularity: str  # "plain" for the non-decoupled kernel (and for layers that are never tiled)
    phase: str
    state: str  # ClockState.id
    hz: float
    instructions: int
    flash_reads: int
    cycles: float
    time_us: float
    energy_uj: float
    #: access <-> execute changes in this layer at this granularity (0 for a plain kernel)
    switches: int = 0
    #: a DMA granularity's access phase: the transfers and bus items the DMA moved (emulated);
    #: their time and energy are not in the row (they depend on the mode and on both phases'
    #: states: :func:`tvm_stm32dvfs.optimize.from_profile.dma_cost`)
    dma_transfers: int = 0
    dma_items: int = 0


@dataclass(frozen=True)
class Profile:
    board: str
    model: str
    rows: tuple[PhaseCost, ...]
    #: builds left out because their firmware does not fit the board's RAM (their DAE tiles, or
    #: "none (the plain kernels)": then no plan can keep a tiled layer plain)
    skipped: tuple[str, ...] = ()
    #: (from state, to state, cycles) of the clock driver's own instructions for every switch
    #: between the profiled states and the Stop wake-up state, emulated (sim/switches.py); empty
    #: for a profile made by hand
    switch_cycles: tuple[tuple[str, str, float], ...] = ()

    def driver_cycles(self, a: str, b: str) -> float:
        """The clock driver's cycles switching ``a`` -> ``b`` (0 when the profile has none)."""
        if not self.switch_cycles:
            return 0.0
        found = self._switches.get((a, b))
        if found is None:
            raise KeyError(f"the profile has no switch {a} -> {b}")
        return found

    @cached_property
    def _switches(self) -> dict[tuple[str, str], float]:
        return {(a, b): c for a, b, c in self.switch_cycles}

    def write_csv(self, path: Path) -> None:
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(PhaseCost.__dataclass_fields__))
            writer.writeheader()
            for row in self.rows:
                writer.writerow(asdict(row))

    def to_json(self) -> str:
        return json.dumps({"board": self.board, "model": self.model, "version": __version__,
                           "rows": [asdict(r) for r in self.rows], "skipped": list(self.skipped),
                           "switch_cycles": [list(s) for s in self.switch_cycles]})

    @classmethod
    def from_json(cls, text: str) -> "Profile":
        data = json.loads(text)
        return cls(data["board"], data["model"], tuple(PhaseCost(**r) for r in data["rows"]),
                   tuple(data.get("skipped", ())), tuple((a, b, float(c)) for a, b, c in data.get("switch_cycles", ())))

    def layer_options(self, layer: int) -> list[str]:
        return sorted({r.granularity for r in self.rows if r.layer == layer})


def tile_maps(compiled, max_granularities: int, max_buffer_bytes: int | None = None,
             dma: str = "") -> list[dict[str, dae.Granularity]]:
    """Granularity maps to build: the k-th offered tile (within ``max_buffer_bytes``; with
    ``dma``, its DMA tiles in that mode) of every decoupled kernel."""
    from .dae.pipeline import stm32dvfs_pipeline
    import tvm

    fused = stm32dvfs_pipeline(dae=False)(compiled.source_mod)
    per_kernel = {}
    for gv, func in fused.functions_items():
        if isinstance(func, tvm.tirx.PrimFunc):
            shape = dae.kernel_shape(func)
            if shape is not None:
                options = dae.tile_options(shape, max_buffer_bytes, max_options=max_granularities, dma=dma)
                if options or not dma:
                    per_kernel[gv.name_hint] = options or dae.tile_options(shape, max_options=1)
    if not per_kernel:
        return []
    count = max(len(o) for o in per_kernel.values())
    return [{k: o[min(i, len(o) - 1)].granularity for k, o in per_kernel.items()} for i in range(count)]


def dma_tiles(compiled, board: Board, budget: int, mode: str, max_granularities: int = 3) -> list[dict]:
    """The one granularity map of ``mode`` the profile builds (empty if no kernel has a DMA tile):
    the middle one of the offered DMA tiles."""
    maps = tile_maps(compiled, max_granularities, budget, dma=mode)
    return maps[len(maps) // 2:len(maps) // 2 + 1]


def tile_budget(board: Board, plain_arena_bytes: int) -> int:
    """The SRAM one kernel's tiles may use: half of what the plain model's arena, the stack and
    the runtime's data leave free (at least the default tile budget)."""
    free = board.memory_map.ram_bytes - plain_arena_bytes - STACK_BYTES - RUNTIME_DATA_BYTES
    return max(free // 2, dae.DEFAULT_TILE_BUDGET)


def cache_key(compiled, board: Board, max_granularities: int, cycle_model: Path | None = None) -> str:
    digest = hashlib.sha256()
    if cycle_model is not None:
        digest.update(Path(cycle_model).read_bytes())
    for name in sorted(compiled.sources.files):
        digest.update(name.encode() + compiled.sources.files[name].encode())
    digest.update(Path(board.data.path).read_bytes())
    for x in compiled.sample_inputs():  # counts are data-dependent
        digest.update(x.tobytes())
    digest.update(f"{__version__}/{PROFILE_FORMAT}/{max_granularities}".encode())
    return digest.hexdigest()[:32]


def _cache_dir() -> Path:
    return Path(os.environ.get("STM32DVFS_CACHE_DIR", Path.home() / ".cache" / "stm32dvfs")) / "profiles"


def profile(compiled, board: Board, max_granularities: int = 3, states: Iterable = None, use_cache: bool = True,
            progress: Callable[[int, int], None] | None = None, cycle_model: Path | None = None) -> Profile:
    """Cost of every layer x granularity x phase x state of ``compiled`` on ``board``
    (``cycle_model``: a calibrated cycle-model file instead of the bundled coefficients)."""
    states = list(states) if states is not None else board.candidate_states()
    key = cache_key(compiled, board, max_granularities, cycle_model)
    cached = _cache_dir() / f"{key}.json"
    if use_cache and states == board.candidate_states() and cached.exists():
        return Profile.from_json(cached.read_text())
    model = load_cycle_model(board.core, cycle_model)
    memory = memory_map(board)
    feeds = compiled.sample_inputs()
    plain = compiled.variant(dae=False)
    builds = [(PLAIN, plain)]
    budget = tile_budget(board, plain.arena_bytes)
    for option in tile_maps(compiled, max_granularities, budget):
        builds.append(("dae", compiled.variant(granularity=option)))
    # the DMA modes at the middle of the offered tiles: several transfers a layer (the overlap
    # mode hides all but the first), each big enough to amortise its set-up
    for mode in dae.DMA_MODES:
        builds.extend(("dae", compiled.variant(granularity=option)) for option in dma_tiles(compiled, board, budget, mode))
    rows: list[PhaseCost] = []
    skipped: list[str] = []
    for done, (kind, variant) in enumerate(builds):
        # run with the plan handler installed, as the firmware will: its per-phase lookups are
        # part of every layer's time (a constant plan never switches, so no driver runs)
        variant = variant.at_clock_state(board.max_state().id)
        try:
            run = emulate(variant, feeds, board=board, memory=memory, count_memory=True, regions=("flash",))
        except ResourceLimitError:
            tiles = sorted({layer.granularity for layer in variant.layers if layer.decoupled})
            skipped.append(", ".join(tiles) if tiles else "none (the plain kernels)")
            continue
        decoupled = {i for i, layer in enumerate(variant.layers) if layer.decoupled}
        covered = {(r.layer, r.granularity) for r in rows}
        for (layer, phase), (classes, reads) in sorted(run.phase_counts(decoupled).items()):
            granularity = variant.layers[layer].granularity
            if (layer, granularity) in covered:
                continue  # an earlier build ran the same kernel (a layer never tiled, a repeated tile)
            instructions = sum(classes.values())
            transfers = run.dma_transfers.get(layer, 0) if phase == "access" else 0
            items = run.dma_items.get(layer, 0) if phase == "access" else 0
            for state in states:
                charge = model.charge(classes, reads, state, board)
                rows.append(PhaseCost(layer, variant.layers[layer].name, granularity, phase, state.id, state.hz,
                                      instructions, reads, charge.cycles, charge.time_us, charge.energy_uj,
                                      run.switches.get(layer, 0), transfers, items))
        if progress is not None:
            progress(done + 1, len(builds))
    if not rows:
        raise ResourceLimitError(f"{compiled.model_name} does not fit {board.name}'s RAM at any DAE tile option "
                                 "profiled: a board with more SRAM, or fewer/smaller tiles")
    ids = list(dict.fromkeys([s.id for s in states] + [board.stop_wakeup_state().id]))
    driver = switch_cycles(board, ids, model)
    result = Profile(board.name, compiled.model_name, tuple(rows), tuple(skipped),
                     tuple((a, b, c) for (a, b), c in sorted(driver.items())))
    if use_cache:
        write_text_atomically(cached, result.to_json())
    return result
