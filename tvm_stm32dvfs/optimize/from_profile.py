"""The plan problem of a compiled model on a board: candidates from its :class:`Profile`, switch
costs from the board's transition model, idle options from its sleep and stop figures.

Per layer the candidates are the plain kernel at every profiled state (so every fixed-clock
baseline lies inside the search space) and, per DAE granularity, every (access state, execute
state) pair. A decoupled layer starts in its access phase and alternates; the profile counts the
access <-> execute changes ``n`` of each granularity, so a pair of distinct states costs
``ceil(n/2)`` switches access -> execute and ``floor(n/2)`` back, charged inside the layer.
Candidate keys are :class:`LayerChoice` values; states are ``ClockState.id`` strings.

A DMA granularity adds the transfers' cost (:func:`dma_cost`), which depends on its mode and on
both phases' states, to the instructions the profile measured.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from ..boards import Board
from ..profile import Profile
from ..vocabulary import DMA_SLEEP, PLAIN, dma_mode
from .problem import Candidate, IdleMode, PlanProblem


@dataclass(frozen=True, order=True)
class LayerChoice:
    """What a plan says of one layer: the DAE tile ("plain": not decoupled) and the clock state
    of its access and execute phases (equal for a plain kernel)."""

    granularity: str
    access_state: str
    execute_state: str


def switch_cost(profile: Profile, board: Board, a, b) -> tuple[float, float]:
    """(us, uJ) of switching ``a`` -> ``b``: what the hardware needs (the board's transition
    model) plus the clock driver's own cycles (the profile's measurement), charged at the slower
    of the two clocks, an upper bound on where the driver runs (from ``a``, HSI and ``b``)."""
    if a == b:
        return 0.0, 0.0
    t = board.transition(a, b)
    slower = a if a.hz <= b.hz else b
    cycles = profile.driver_cycles(a.id, b.id)
    return t.time_us + cycles / slower.mhz, t.energy_uj + board.energy_uj(slower, cycles)


def dma_cost(board: Board, mode: str, transfers: int, items: int, access, execute,
             execute_us: float) -> tuple[float, float]:
    """(us, uJ) a layer's DMA transfers add to its instructions: ``transfers`` transfers of
    ``items`` bus items in all, the access phase at ``access``, the execute phase at ``execute``
    taking ``execute_us`` (ClockStates).

    Sleep: every transfer runs in the access phase while the core sleeps (sleep current) and
    wakes (the board's sleep wake-up per transfer); the DMA's own current on top. Overlap: the
    layer's first transfer is waited for (the core polls at run current); every later one runs
    while the previous tile executes and stalls the next access phase only by what it takes
    beyond an execute phase (``execute_us`` / tiles); its time is taken at the slower of the two
    clocks and its DMA power at the dearer state, an upper bound on where it runs. Bus contention
    between the DMA and the executing core is not modelled (both read different memories: the
    DMA flash, the execute phase its SRAM tile)."""
    if transfers <= 0:
        return 0.0, 0.0
    if mode == DMA_SLEEP:
        transfer = board.dma_transfer_us(access, items)
        wake = transfers * board.wakeup_us("sleep", access)
        energy = (board.sleep_power_mw(access) + board.dma_power_mw(access)) * transfer / 1000
        return transfer + wake, energy + board.run_power_mw(access) * wake / 1000
    slower = access if access.hz <= execute.hz else execute
    transfer = board.dma_transfer_us(slower, items) / transfers
    stall = transfer + (transfers - 1) * max(0.0, transfer - execute_us / transfers)
    dma_mw = max(board.dma_power_mw(access), board.dma_power_mw(execute))
    return stall, (board.run_power_mw(access) * stall + dma_mw * transfer * transfers) / 1000


def _without_dominated_dma(cands: list[Candidate]) -> tuple[Candidate, ...]:
    """``cands`` less the DMA candidates another candidate with the same first and last state
    beats in time and energy: no plan's optimum needs them (the solvers see a layer only through
    those four figures), and the exact solvers' labels grow with every candidate kept. A tie
    removes the DMA candidate only against a CPU one, so one of equals always stays."""
    def uses_dma(c: Candidate) -> bool:
        return bool(dma_mode(c.key.granularity))

    def beats(o: Candidate, c: Candidate) -> bool:
        return (o is not c and o.time_us <= c.time_us and o.energy_uj <= c.energy_uj
                and (o.time_us < c.time_us or o.energy_uj < c.energy_uj or not uses_dma(o)))

    by_ends: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for c in cands:
        by_ends[(c.first_state, c.last_state)].append(c)
    return tuple(c for c in cands
                 if not uses_dma(c) or not any(beats(o, c) for o in by_ends[(c.first_state, c.last_state)]))


def plan_problem(profile: Profile, board: Board, budget_ms: float, period_ms: float | None = None) -> PlanProblem:
    """The problem of one inference of ``profile``'s model within ``budget_ms``, repeated every
    ``period_ms`` (default: the budget), idling between inferences as cheaply as the board allows."""
    if profile.board != board.name:
        raise ValueError(f"profile of board {profile.board} used with board {board.name}")
    if period_ms is not None and period_ms < budget_ms:
        raise ValueError(f"period {period_ms} ms is shorter than the latency budget {budget_ms} ms")
    rows: dict[tuple[int, str, str], dict[str, tuple[float, float]]] = defaultdict(dict)
    switches: dict[tuple[int, str], int] = {}
    dma: dict[tuple[int, str], tuple[int, int]] = {}
    for r in profile.rows:
        rows[(r.layer, r.granularity, r.phase)][r.state] = (r.time_us, r.energy_uj)
        switches[(r.layer, r.granularity)] = r.switches
        if r.phase == "access":
            dma[(r.layer, r.granularity)] = (r.dma_transfers, r.dma_items)
    state_ids = sorted({r.state for r in profile.rows}, key=lambda i: board.state(i).hz)
    clock = {i: board.state(i) for i in state_ids}
    wake = board.stop_wakeup_state()
    clock.setdefault(wake.id, wake)
    transitions = {}
    for a in clock:
        for b in clock:
            if a != b:
                transitions[(a, b)] = switch_cost(profile, board, clock[a], clock[b])

    layers = []
    for layer in sorted({r.layer for r in profile.rows}):
        cands: list[Candidate] = []
        for s, (t, e) in rows[(layer, PLAIN, "plain")].items():
            cands.append(Candidate(layer, LayerChoice(PLAIN, s, s), s, s, t, e))
        for g in profile.layer_options(layer):
            if g == PLAIN:
                continue
            access, execute = rows[(layer, g, "access")], rows[(layer, g, "execute")]
            n = switches[(layer, g)]
            mode = dma_mode(g)
            transfers, items = dma[(layer, g)]
            for a, (ta, ea) in access.items():
                for x, (tx, ex) in execute.items():
                    t, e = ta + tx, ea + ex
                    if mode:
                        dt, de = dma_cost(board, mode, transfers, items, clock[a], clock[x], tx)
                        t, e = t + dt, e + de
                    last = a
                    if a != x and n:
                        forth, back = transitions[(a, x)], transitions[(x, a)]
                        up, down = math.ceil(n / 2), n // 2
                        t += up * forth[0] + down * back[0]
                        e += up * forth[1] + down * back[1]
                        last = x if n % 2 else a
                    elif n % 2:
                        last = x
                    cands.append(Candidate(layer, LayerChoice(g, a, x), a, last, t, e))
        layers.append(_without_dominated_dma(cands))

    idle = [IdleMode("sleep", board.sleep_power_mw(clock[s]), board.wakeup_us("sleep", clock[s]), requires_state=s)
            for s in clock]
    stop_wakeup = board.wakeup_us("stop")
    # waking from Stop runs the regulator and HSI up: charged at the HSI run power (estimate)
    idle.append(IdleMode("stop", board.stop_power_mw(), stop_wakeup, board.run_power_mw(wake) * stop_wakeup / 1000,
                         requires_state=wake.id))
    fastest = state_ids[-1]
    return PlanProblem(
        layers=tuple(layers),
        transitions=transitions,
        initial_state=fastest,
        budget_us=budget_ms * 1000,
        period_us=None if period_ms is None else period_ms * 1000,
        idle_modes=tuple(idle),
        busy_power_mw={s: board.run_power_mw(c) for s, c in clock.items()},
        name=f"{profile.model} on {board.name}",
        initial_choices=tuple(clock),
    )
