"""The access phase by CPU copy, DMA sleep and DMA overlap: what each costs on the same tiles.

For a model on a board, every decoupled kernel gets the DMA tile the profile builds (the middle
one of those offered within its tile budget: several transfers a layer), and the model is built
three times with those tiles: the weight slice loaded by the CPU (``rows x channels``), brought in by DMA while the core
sleeps (``+sleep``) and by DMA during the previous tile's execute phase (``+overlap``). Each build
runs in the emulator with the board's runtime (its DMA driver against the DMA model), flash data
reads counted; the layers' phases are charged like the profile charges them (cycle model,
datasheet run current) at a clock state, plus the DMA transfers as the optimizer charges them
(:func:`~tvm_stm32dvfs.optimize.from_profile.dma_cost`, both phases at that state).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..boards import Board
from ..optimize.from_profile import dma_cost
from ..profile import dma_tiles, tile_budget
from ..sim.cycles import load_cycle_model
from ..sim.emulator import emulate
from ..vocabulary import DMA_MODES, Granularity

#: the access methods compared, in table order: CPU loads, then the DMA modes
METHODS = ("cpu",) + DMA_MODES


@dataclass(frozen=True)
class AccessEnergy:
    """The layers with DMA tiles of one model on one board at one clock state, summed."""

    model: str
    board: str
    state: str
    layers: int
    transfers: int
    #: per method (METHODS): the access phase's energy, the DMA's included
    access_uj: dict[str, float]

    def saving(self, method: str) -> float:
        """Fraction of the CPU copy's access-phase energy ``method`` saves (negative: costs more)."""
        return 1.0 - self.access_uj[method] / self.access_uj["cpu"]


def access_energy(compiled, board: Board, states=None) -> list[AccessEnergy]:
    """The access phase of ``compiled``'s DMA-capable layers by each method, at each of ``states``
    (default: the board's fastest and slowest candidate states)."""
    states = list(states) if states is not None else [board.max_state(), board.candidate_states()[0]]
    profiled = dma_tiles(compiled, board, tile_budget(board, compiled.variant(dae=False).arena_bytes), DMA_MODES[0])
    if not profiled:
        return []
    tiles = {name: Granularity(g.rows, g.channels) for name, g in profiled[0].items()}
    model = load_cycle_model(board.core)
    x = compiled.sample_inputs()
    runs = {}
    for method in METHODS:
        chosen = {name: replace(g, dma="" if method == "cpu" else method) for name, g in tiles.items()}
        variant = compiled.variant(granularity=chosen)
        runs[method] = (variant, emulate(variant, x, board=board, count_memory=True, regions=("flash",)))
    sleep_run = runs[DMA_MODES[0]][1]
    layers = sorted(sleep_run.dma_transfers)
    out = []
    for state in states:
        access_uj = {}
        for method, (variant, run) in runs.items():
            decoupled = {i for i, layer in enumerate(variant.layers) if layer.decoupled}
            counts = run.phase_counts(decoupled)
            energy = 0.0
            for layer in layers:
                access, execute = (model.charge(*counts[(layer, phase)], state, board) for phase in ("access", "execute"))
                _, dma_uj = (0.0, 0.0) if method == "cpu" else dma_cost(
                    board, method, run.dma_transfers[layer], run.dma_items[layer], state, state, execute.time_us)
                energy += access.energy_uj + dma_uj
            access_uj[method] = energy
        out.append(AccessEnergy(compiled.model_name, board.name, state.id, len(layers),
                                sum(sleep_run.dma_transfers.values()), access_uj))
    return out
