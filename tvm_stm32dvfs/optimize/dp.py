"""The DP over (layer, clock state, time bucket): the fast solver, exact over the buckets.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .graph import Solution, fastest_choice, finish
from .problem import PlanProblem, evaluate, idle_energy_array

#: the DP's cost tables are float32: half the memory traffic of float64, and the energies the DP
#: compares (uJ, at most ~1e7 per period) keep 7 significant digits; every plan it returns is
#: re-evaluated in float64 by :func:`evaluate`
DP_FLOAT = np.float32


@dataclass
class _DpTables:
    """The forward pass of the DP at one bucket size: reusable for every budget up to
    ``horizon_us`` (the Pareto front extracts every budget from one pass)."""

    states: list
    delta: float
    width: int
    cap: np.ndarray
    switch_energy: np.ndarray
    back: list
    cost: np.ndarray  # (state, bucket) after the last layer


def _dp_forward(problem: PlanProblem, horizon_us: float, buckets: int) -> _DpTables:
    states = problem.states()
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    delta = horizon_us / buckets
    width = buckets + 1
    inf = np.inf
    cap = np.full((n, n), width, dtype=np.int64)  # width: no such switch
    switch_energy = np.zeros((n, n), dtype=DP_FLOAT)
    for pi, p in enumerate(states):
        cap[pi, pi] = 0
        for fi, f in enumerate(states):
            if p != f and (p, f) in problem.transitions:
                t, e = problem.transition(p, f)
                cap[pi, fi] = min(math.ceil(t / delta - 1e-9), width)
                switch_energy[pi, fi] = e
    # a state's costs live in the right half of a row of 2 x width; the left half is inf, so
    # "bucket b - shift" is a plain index even where it falls below 0 (shifts are capped at width):
    # the window of a row that starts at width - shift holds every bucket's b - shift
    padded = np.full((n, 2 * width), inf, dtype=DP_FLOAT)
    padded[index[problem.initial_state], width] = 0.0
    arrive_padded = np.full((n, 2 * width), inf, dtype=DP_FLOAT)
    windows = sliding_window_view(padded, width, axis=1)
    arrive_windows = sliding_window_view(arrive_padded, width, axis=1)
    previous = np.arange(n)[:, None]
    back = []  # per layer: costs before it and after its switch stage (argmins are recomputed on the way back)
    for cands in problem.layers:
        before = padded.copy()
        # 1. switch from every state into every first state: min over the previous state
        arrive = windows[previous, width - cap]  # (previous, first, bucket)
        arrive += switch_energy[:, :, None]
        arrive_padded[:, width:] = arrive.min(axis=0)
        # 2. every candidate at once: value[c, b] = arrive[first(c), b - shift(c)] + energy(c),
        #    the candidates in the order of their last state
        last = np.array([index[c.last_state] for c in cands])
        order = np.argsort(last, kind="stable")
        first = np.array([index[c.first_state] for c in cands])
        shift = np.minimum([math.ceil(c.time_us / delta - 1e-9) for c in cands], width)
        energy = np.array([c.energy_uj for c in cands], dtype=DP_FLOAT)
        value = arrive_windows[first[order], width - shift[order]]
        value += energy[order, None]
        # 3. per last state the cheapest (a run of rows of ``value``)
        ends, counts = np.unique(last[order], return_counts=True)
        padded[:, width:] = inf
        row = 0
        for end, count in zip(ends.tolist(), counts.tolist()):
            value[row:row + count].min(axis=0, out=padded[end, width:])
            row += count
        back.append((before, arrive_padded.copy(), first, last, shift, energy))
    return _DpTables(states, delta, width, cap, switch_energy, back, padded[:, width:].copy())


def _dp_extract(problem: PlanProblem, tables: _DpTables, start: float) -> Solution | None:
    """The cheapest plan of the tables within ``problem.budget_us`` (and its period)."""
    states, delta, width = tables.states, tables.delta, tables.width
    n = len(states)
    inf = np.inf
    last_bucket = min(width - 1, math.floor(problem.budget_us / delta + 1e-9))
    cost = tables.cost
    best = None
    for si, s in enumerate(states):
        if s != problem.initial_state and (s, problem.initial_state) not in problem.transitions:
            continue
        bt, be = problem.transition(s, problem.initial_state)
        buckets = np.arange(last_bucket + 1)
        totals = cost[si, : last_bucket + 1] + be + idle_energy_array(problem, problem.period - buckets * delta - bt)
        b = int(np.argmin(totals))
        if np.isfinite(totals[b]) and (best is None or totals[b] < best[0]):
            best = (float(totals[b]), si, b)
    if best is None:
        # rounding every step up can lose plans near the budget: the fastest plan is still an
        # answer when it fits
        fastest = fastest_choice(problem)
        latency, energy_uj, _ = evaluate(problem, fastest)
        if latency <= problem.budget_us + 1e-9 and math.isfinite(energy_uj):
            return finish(problem, fastest, False, "dp", start)
        return None
    _, si, b = best
    choice = []
    for layer in range(len(problem.layers) - 1, -1, -1):
        before, arrive_padded, first, last, shift, energy = tables.back[layer]
        target = cost[si, b]
        # the candidate (ending in si at bucket b) and the switch into it that reached ``target``:
        # the same additions as the forward pass, so the minima compare equal
        value = np.where(last == si, arrive_padded[first, width + b - shift] + energy, inf)
        ci = int(np.argmin(value))
        assert value[ci] == target, "DP backtracking lost its path"
        b -= int(shift[ci])
        fi = int(first[ci])
        via = before[np.arange(n), width + b - tables.cap[:, fi]] + tables.switch_energy[:, fi]
        pi = int(np.argmin(via))
        b -= int(tables.cap[pi, fi])
        choice.append(problem.layers[layer][ci])
        cost = before[:, width:]
        si = pi
    choice.reverse()
    return finish(problem, choice, False, "dp", start)


def solve_dp(problem: PlanProblem, buckets: int = 2000) -> Solution | None:
    """DP over (layer, clock state, time bucket): exact over the buckets, not over time, so its
    plan is not proven optimal (``optimal=False``; :func:`solve_exact` is).

    Each layer is two vectorised steps: the switch into every first state (a gather over pairs
    of states), then every candidate at once (one gather of candidates x buckets). Switch and
    candidate times are each rounded *up* to buckets of budget / ``buckets``, so a plan found is
    never over budget, and the DP may miss plans within 2 x layers + 1 buckets of it (then the
    fastest plan is returned when it fits).
    """
    start = time.perf_counter()
    return _dp_extract(problem, _dp_forward(problem, problem.budget_us, buckets), start)


def solve_dp_budgets(problem: PlanProblem, budgets_us, buckets: int = 2000) -> list[Solution | None]:
    """:func:`solve_dp` for several budgets (at the problem's period) from one forward pass,
    its buckets sized by the largest budget."""
    start = time.perf_counter()
    tables = _dp_forward(problem, max(budgets_us), buckets)
    return [_dp_extract(problem.with_budget(b, problem.period_us), tables, start) for b in budgets_us]
