"""Solvers of :class:`~tvm_stm32dvfs.optimize.problem.PlanProblem`: dominance pruning, an exact DP
over discretised time, a Z3 encoding, a greedy heuristic and brute force (for the tests).

Every solver returns a choice (one candidate per layer) that :func:`check_plan` accepts; times
are rounded *up* wherever they are discretised, so a discretised solution is never over budget.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, replace

import numpy as np

from .problem import Candidate, PlanProblem, evaluate, idle_energy_array


@dataclass(frozen=True)
class Solution:
    choice: tuple[Candidate, ...]
    latency_us: float
    energy_uj: float
    idle_mode: str
    optimal: bool
    solver: str
    solve_s: float


def _finish(problem, choice, optimal, solver, start) -> Solution:
    latency, energy, mode = evaluate(problem, choice)
    return Solution(tuple(choice), latency, energy, mode, optimal, solver, time.perf_counter() - start)


def prune(problem: PlanProblem) -> PlanProblem:
    """Drop every candidate no optimal plan needs.

    ``c`` is dominated by ``d`` of the same layer and boundary states when ``d`` is no slower
    and, counting the idle energy the time it saves costs, no costlier:
    ``d.time <= c.time`` and ``d.energy + p_idle_max * (c.time - d.time) <= c.energy``. Swapping
    keeps every transition, keeps the plan in budget and every wake-up within the slack, and
    changes the period's energy by at most ``d.energy - c.energy + p * (c.time - d.time) <= 0``.
    The plain "slower and costlier" test is not enough: a faster layer buys idle time, which
    costs the busy-wait power. In (time, energy - p_idle_max * time) this is Pareto dominance.
    """
    from collections import defaultdict

    power = problem.max_idle_power_mw()
    layers = []
    for cands in problem.layers:
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, c in enumerate(cands):
            groups[(c.first_state, c.last_state)].append(i)
        keep: set[int] = set()
        for members in groups.values():
            adjusted = {i: cands[i].energy_uj - power * cands[i].time_us / 1000.0 for i in members}
            best = math.inf
            for i in sorted(members, key=lambda i: (cands[i].time_us, adjusted[i], i)):
                if adjusted[i] < best:  # every faster one has a higher adjusted energy: undominated
                    keep.add(i)
                    best = adjusted[i]
        layers.append(tuple(c for i, c in enumerate(cands) if i in keep))
    return replace(problem, layers=tuple(layers))


@dataclass(frozen=True)
class _Graph:
    """The problem as arrays over state indices, for the path computations below."""

    states: list
    index: dict
    first: list  # per layer: each candidate's first-state index
    last: list
    time: list  # per layer: each candidate's time (us) and energy (uJ)
    energy: list
    switch_time: np.ndarray  # (from, to): us, inf where there is no such switch; 0 on the diagonal
    switch_energy: np.ndarray  # uJ, 0 where there is no such switch
    initial: int


def _graph(problem: PlanProblem) -> _Graph:
    states = problem.states()
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    switch_time = np.full((n, n), np.inf)
    switch_energy = np.zeros((n, n))
    for a in states:
        for b in states:
            if a == b or (a, b) in problem.transitions:
                switch_time[index[a], index[b]], switch_energy[index[a], index[b]] = problem.transition(a, b)
    return _Graph(states, index,
                  [np.array([index[c.first_state] for c in cands], dtype=np.int64) for cands in problem.layers],
                  [np.array([index[c.last_state] for c in cands], dtype=np.int64) for cands in problem.layers],
                  [np.array([c.time_us for c in cands]) for cands in problem.layers],
                  [np.array([c.energy_uj for c in cands]) for cands in problem.layers],
                  switch_time, switch_energy, index[problem.initial_state])


def _weighted(graph: _Graph, time_weight: float, energy_weight: float,
              return_time_weight: float) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Switch weights (inf where there is none), candidate weights per layer, and the weight of
    the switch back to the initial state from each state."""
    possible = np.isfinite(graph.switch_time)
    finite_time = np.where(possible, graph.switch_time, 0.0)
    switch = np.where(possible, time_weight * finite_time + energy_weight * graph.switch_energy, np.inf)
    weights = [time_weight * t + energy_weight * e for t, e in zip(graph.time, graph.energy)]
    home = np.where(possible[:, graph.initial], return_time_weight * finite_time[:, graph.initial]
                    + energy_weight * graph.switch_energy[:, graph.initial], np.inf)
    return switch, weights, home


def _forward(graph: _Graph, switch: np.ndarray, weights: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Per layer the least weight of reaching each first state (the switch into it included),
    and after the last layer the least weight of ending in each state."""
    arrive: list[np.ndarray] = []
    best = np.full(len(graph.states), np.inf)
    best[graph.initial] = 0.0
    for first, last, w in zip(graph.first, graph.last, weights):
        into = (best[:, None] + switch).min(axis=0)
        arrive.append(into)
        best = np.full(len(graph.states), np.inf)
        np.minimum.at(best, last, into[first] + w)
    return arrive, best


def _min_over_paths(graph: _Graph, time_weight: float, energy_weight: float,
                    return_time_weight: float = 0.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per layer, over state indices, the least ``time_weight x time + energy_weight x energy``
    (of candidates and switches, every other limit ignored) of reaching each first state of the
    layer, the switch into it included (``arrive``), and of finishing from each last state
    after it, the switch back to the initial state included with its time weighed by
    ``return_time_weight`` (it is not latency) (``leave``); inf where there is no path."""
    switch, weights, after = _weighted(graph, time_weight, energy_weight, return_time_weight)
    arrive, _ = _forward(graph, switch, weights)
    leave: list[np.ndarray] = [after] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        leave[i] = after
        from_first = np.full(len(graph.states), np.inf)
        np.minimum.at(from_first, graph.first[i], weights[i] + after[graph.last[i]])
        after = (switch + from_first[None, :]).min(axis=1)
    return arrive, leave


def _through(graph: _Graph, arrive: list[np.ndarray], leave: list[np.ndarray], weights) -> list[np.ndarray]:
    """Per layer, per candidate: the least weight of a whole path through it."""
    return [arrive[i][graph.first[i]] + w + leave[i][graph.last[i]] for i, w in enumerate(weights)]


def _idle_options(problem: PlanProblem) -> list[tuple[float, float, float]]:
    """(power mW, wake-up us, wake-up uJ) of every way to fill the slack: busy-waiting in the
    start state, and the idle modes usable from it."""
    options = [(problem.busy_power_mw[problem.initial_state], 0.0, 0.0)] \
        if problem.initial_state in problem.busy_power_mw else []
    return options + [(m.power_mw, m.wakeup_us, m.wakeup_energy_uj) for m in problem.idle_modes
                      if m.requires_state is None or m.requires_state == problem.initial_state]


def _least_idle_energy(problem: PlanProblem) -> float:
    """A lower bound of the idle energy of any plan within the budget: each idle option at the
    least slack it may see (period - budget - the slowest switch back to the initial state, or
    its wake-up time if that is longer); the options' energies rise with the slack."""
    back = max((problem.transition(s, problem.initial_state)[0] for s in problem.states()
                if s == problem.initial_state or (s, problem.initial_state) in problem.transitions), default=0.0)
    least_slack = max(problem.period - problem.budget_us - back, 0.0)
    return min((p * (max(least_slack, w) - w) / 1000 + ew for p, w, ew in _idle_options(problem)), default=0.0)


def _idle_floor(problem: PlanProblem) -> float:
    """What the idle line adds to a completion bound besides ``-slope x (t + T + R)``:
    ``slope x period + offset``, the offset capped at 0 (an empty slack costs nothing)."""
    slope, offset = _idle_line(problem)
    return slope * problem.period + min(offset, 0.0)


def _idle_line(problem: PlanProblem) -> tuple[float, float]:
    """(slope uJ/us, offset uJ) of a line under every idle option's energy as a function of the
    slack: the lowest idle power, and min over options of wake-up energy - power x wake-up time."""
    options = _idle_options(problem)
    return (min((p for p, _, _ in options), default=0.0) / 1000,
            min((ew - p * w / 1000 for p, w, ew in options), default=0.0))


@dataclass(frozen=True)
class _Pricing:
    """One Lagrangian lower bound of the period's energy: a plan with latency T, busy energy E
    (switch back included) and return switch time R costs at least
    ``E + time_weight x T + return_time_weight x R + constant``, which paths minimise."""

    time_weight: float
    return_time_weight: float
    constant: float


def _pricings(problem: PlanProblem, lam: float) -> tuple[_Pricing, _Pricing]:
    """The two bounds at price ``lam`` >= 0 of latency (uJ per us): E + lam x (T - B) (<= E
    within the budget B) plus either the least idle energy any plan pays, or a line under every
    idle option, slope x slack + offset with slack = period - T - R (slope: the lowest idle
    power; offset: min over options of wake-up energy - power x wake-up time) — the second
    charges a fast plan for the long idle it buys."""
    slope, offset = _idle_line(problem)
    budget = problem.budget_us
    return (_Pricing(lam, 0.0, _least_idle_energy(problem) - lam * budget),
            _Pricing(lam - slope, -slope, slope * problem.period + offset - lam * budget))


def _priced_paths(graph: _Graph, pricing: _Pricing) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``_min_over_paths`` under a pricing, with each candidate's weight."""
    arrive, leave = _min_over_paths(graph, pricing.time_weight, 1.0, pricing.return_time_weight)
    return arrive, leave, [pricing.time_weight * t + e for t, e in zip(graph.time, graph.energy)]


def _best_pricing(problem: PlanProblem, graph: _Graph, lam: float) -> tuple[float, _Pricing]:
    """The better of the two lower bounds at ``lam`` of every plan's period energy, and its
    pricing."""
    bounds = []
    for pricing in _pricings(problem, lam):
        switch, weights, home = _weighted(graph, pricing.time_weight, 1.0, pricing.return_time_weight)
        bounds.append((float((_forward(graph, switch, weights)[1] + home).min()) + pricing.constant, pricing))
    return max(bounds, key=lambda b: b[0])


def best_multiplier(problem: PlanProblem, graph: _Graph | None = None, iterations: int = 40) -> tuple[float, float]:
    """(lam*, its bound): the price of latency (uJ per us) that maximises the Lagrangian lower
    bound of the period's energy (ternary search; each of the two bounds is concave in lam),
    and that bound."""
    graph = graph or _graph(problem)
    times = [t for ts in graph.time for t in ts]
    energies = [e for es in graph.energy for e in es]
    hi = max(energies, default=1.0) / max(min(times, default=1.0), 1e-9)
    lo = 0.0
    for _ in range(iterations):
        a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if _best_pricing(problem, graph, a)[0] < _best_pricing(problem, graph, b)[0]:
            lo = a
        else:
            hi = b
    lam = (lo + hi) / 2
    return lam, _best_pricing(problem, graph, lam)[0]


def bound_prune(problem: PlanProblem, upper_bound_uj: float, multipliers=(0.0,)) -> PlanProblem:
    """Drop every candidate that no plan within the budget, or no plan as cheap as
    ``upper_bound_uj`` (a known plan's energy), can use: the fastest plan through it is over
    budget, or at some price ``lam`` of latency in ``multipliers`` (uJ per us, >= 0) a
    Lagrangian lower bound (:func:`_pricings`) of every plan through it exceeds the bound
    (reduced-cost fixing; lam = 0 is the cheapest plan through it, latency ignored;
    ``best_multiplier``'s lam* is the tightest single price)."""
    graph = _graph(problem)
    t_in, t_out = _min_over_paths(graph, 1.0, 0.0)  # latency only
    keep = [t <= problem.budget_us + 1e-9 for t in _through(graph, t_in, t_out, graph.time)]
    margin = 1e-9 * max(1.0, abs(upper_bound_uj))
    for lam in multipliers:
        for pricing in _pricings(problem, lam):
            through = _through(graph, *_priced_paths(graph, pricing))
            keep = [k & (v + pricing.constant <= upper_bound_uj + margin) for k, v in zip(keep, through)]
    return replace(problem, layers=tuple(tuple(c for c, k in zip(cands, kept) if k)
                                         for cands, kept in zip(problem.layers, keep)))


def min_latency_us(problem: PlanProblem, starts=None) -> float:
    """The fastest inference possible (shortest path over states), ignoring energy, from the
    initial state (or the fastest of ``starts``)."""
    starts = list(starts) if starts is not None else [problem.initial_state]
    states = sorted(set(problem.states()) | set(starts), key=repr)
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    switch = np.full((n, n), np.inf)
    for pi, p in enumerate(states):
        switch[pi, pi] = 0.0
        for fi, f in enumerate(states):
            if p != f and (p, f) in problem.transitions:
                switch[pi, fi] = problem.transitions[(p, f)][0]
    best = np.full(n, np.inf)
    for s in starts:
        best[index[s]] = 0.0
    for cands in problem.layers:
        arrive = (best[:, None] + switch).min(axis=0)
        first = np.array([index[c.first_state] for c in cands])
        last = np.array([index[c.last_state] for c in cands])
        times = np.array([c.time_us for c in cands])
        best = np.full(n, np.inf)
        np.minimum.at(best, last, arrive[first] + times)
    return float(best.min())


def brute_force(problem: PlanProblem) -> Solution:
    start = time.perf_counter()
    best = None
    for choice in itertools.product(*problem.layers):
        latency, energy, _ = evaluate(problem, choice)
        if latency <= problem.budget_us + 1e-9 and math.isfinite(energy) and (best is None or energy < best[0] - 1e-12):
            best = (energy, choice)
    if best is None:
        return None
    return _finish(problem, best[1], True, "brute-force", start)


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
    # "bucket b - shift" is a plain index even where it falls below 0 (shifts are capped at width)
    columns = np.arange(width)
    switch_index = (np.arange(n)[:, None, None] * 2 * width + width + columns[None, None, :]
                    - cap[:, :, None])  # (previous, first, bucket)
    padded = np.full((n, 2 * width), inf, dtype=DP_FLOAT)
    padded[index[problem.initial_state], width] = 0.0
    arrive_padded = np.full((n, 2 * width), inf, dtype=DP_FLOAT)
    back = []  # per layer: costs before it and after its switch stage (argmins are recomputed on the way back)
    for cands in problem.layers:
        before = padded.copy()
        # 1. switch from every state into every first state: min over the previous state
        arrive_padded[:, width:] = (padded.ravel().take(switch_index) + switch_energy[:, :, None]).min(axis=0)
        # 2. every candidate at once: value[c, b] = arrive[first(c), b - shift(c)] + energy(c)
        first = np.array([index[c.first_state] for c in cands])
        last = np.array([index[c.last_state] for c in cands])
        shift = np.minimum([math.ceil(c.time_us / delta - 1e-9) for c in cands], width)
        energy = np.array([c.energy_uj for c in cands], dtype=DP_FLOAT)
        source = (first * 2 * width + width - shift)[:, None] + columns[None, :]
        value = arrive_padded.ravel().take(source) + energy[:, None]
        # per last state the cheapest: candidates grouped into a (last, slot, bucket) block
        order = np.argsort(last, kind="stable")
        counts = np.bincount(last, minlength=n)
        slot = np.empty(len(cands), dtype=np.int64)
        slot[order] = np.arange(len(cands)) - np.repeat(np.cumsum(counts) - counts, counts)
        block = np.full((n, counts.max(), width), inf, dtype=DP_FLOAT)
        block[last, slot] = value
        padded[:, width:] = block.min(axis=1)
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
        fastest = _fastest_choice(problem)
        latency, energy_uj, _ = evaluate(problem, fastest)
        if latency <= problem.budget_us + 1e-9 and math.isfinite(energy_uj):
            return _finish(problem, fastest, False, "dp", start)
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
    return _finish(problem, choice, False, "dp", start)


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


def _fastest_choice(problem: PlanProblem) -> list[Candidate]:
    """The plan with the least latency plus return switch (shortest path over states)."""
    best: dict = {problem.initial_state: (0.0, [])}
    for cands in problem.layers:
        new: dict = {}
        for c in cands:
            arrive = min(((t + problem.transition(s, c.first_state)[0] + c.time_us, path)
                          for s, (t, path) in best.items()), key=lambda x: x[0])
            if c.last_state not in new or arrive[0] < new[c.last_state][0]:
                new[c.last_state] = (arrive[0], arrive[1] + [c])
        best = new
    _, path = min(((t + problem.transition(s, problem.initial_state)[0], path) for s, (t, path) in best.items()),
                  key=lambda x: x[0])
    return path


def solve_greedy(problem: PlanProblem) -> Solution | None:
    """Start from each layer's fastest candidate, then repeatedly take the swap with the best
    energy saved per microsecond added while the budget holds (a third point of comparison, no
    optimality claim). A swap changes one layer and its two switches: evaluated in O(1)."""
    start = time.perf_counter()
    layers = problem.layers
    choice = _fastest_choice(problem)
    latency, energy, _ = evaluate(problem, choice)
    if latency > problem.budget_us + 1e-9 or not math.isfinite(energy):
        return None

    def around(layer: int, c: Candidate) -> tuple[float, float]:
        before = problem.initial_state if layer == 0 else choice[layer - 1].last_state
        after = problem.initial_state if layer == len(layers) - 1 else choice[layer + 1].first_state
        t_in, e_in = problem.transition(before, c.first_state)
        t_out, e_out = problem.transition(c.last_state, after)
        # the return switch after the last layer is not latency; the others are
        t = t_in + c.time_us + (t_out if layer < len(layers) - 1 else 0.0)
        return t, e_in + c.energy_uj + e_out

    while True:
        best = None
        for layer, cands in enumerate(layers):
            t_now, e_now = around(layer, choice[layer])
            for c in cands:
                if c is choice[layer]:
                    continue
                t_new, e_new = around(layer, c)
                new_latency = latency + t_new - t_now
                if new_latency > problem.budget_us + 1e-9 or e_new >= e_now:
                    continue
                gain = (e_now - e_new) / max(t_new - t_now, 1e-9)
                if best is None or gain > best[0]:
                    best = (gain, layer, c)
        if best is None:
            break
        _, layer, c = best
        trial = choice[:layer] + [c] + choice[layer + 1:]
        t, e, _ = evaluate(problem, trial)  # the idle energy moves with the latency: recheck
        if e >= energy - 1e-12:
            break
        choice, latency, energy = trial, t, e
    return _finish(problem, choice, False, "greedy", start)


class _OutOfTime(Exception):
    """The label search ran past its deadline or its label budget: the caller falls back to
    its incumbent, unproven."""


#: label pairs (label x candidate) expanded at once: bounds the search's transient memory
#: (a pair costs about 60 bytes while it is priced) whatever the number of labels
EXPANSION_CHUNK = 2_000_000
#: labels kept after a layer beyond which the search gives up (as on its time limit)
MAX_LABELS = 10_000_000


def _pareto_survivors(end: np.ndarray, t: np.ndarray, adjusted: np.ndarray) -> np.ndarray:
    """Indices of the labels no other label ending in the same state dominates: per end
    state, by latency, a label survives when its idle-adjusted energy is below that of every
    faster one (ties in latency: the cheaper first)."""
    order = np.lexsort((adjusted, t, end))
    end, adjusted = end[order], adjusted[order]
    starts = np.flatnonzero(np.r_[True, end[1:] != end[:-1]])
    survive = np.zeros(len(end), dtype=bool)
    for lo, hi in zip(starts, np.r_[starts[1:], len(end)]):
        group = adjusted[lo:hi]
        survive[lo:hi] = group < np.minimum.accumulate(np.concatenate(([np.inf], group[:-1])))
    return order[survive]


#: time buckets of the completion bound (:func:`_completion_bounds`) over the budget
COMPLETION_BUCKETS = 4000


def _completion_bounds(problem: PlanProblem, graph: _Graph, buckets: int = COMPLETION_BUCKETS):
    """A lower bound of finishing a plan, by latency left: ``(width_us, after, whole)`` where
    ``after[i][s, b]`` bounds ``E - slope x (T + R)`` over every way to run the layers after
    layer ``i`` from state ``s`` and switch back to the initial state (busy energy E, latency T,
    return switch time R; slope: the lowest idle power, so ``slope x slack + offset`` with
    slack = period - t - T - R is under every idle option) whose latency T fits in ``b``
    buckets of ``width_us``. Each switch and candidate time is rounded down to buckets
    separately, so a completion that fits in ``b x width_us`` fits in ``b`` buckets: the bound
    holds for exact times; ``whole[s, b]`` is the same bound for the whole plan from state ``s``.
    A backward DP over (layer, state, buckets); it knows the latency left, which the Lagrangian
    bounds price only on average."""
    slope, _ = _idle_line(problem)
    n = len(graph.states)
    width = problem.budget_us / buckets
    possible = np.isfinite(graph.switch_time)
    sw_time = np.where(possible, graph.switch_time, 0.0)
    sw_value = np.where(possible, graph.switch_energy - slope * sw_time, np.inf)
    sw_steps = np.floor(sw_time / width).astype(np.int64)
    home = np.where(possible[:, graph.initial],
                    graph.switch_energy[:, graph.initial] - slope * sw_time[:, graph.initial], np.inf)
    after = [None] * len(graph.first)
    rest = np.repeat(home[:, None], buckets + 1, axis=1)  # after the last layer: switch back only
    for i in range(len(graph.first) - 1, -1, -1):
        after[i] = rest
        # from the first state of a candidate of layer i: the candidate, then the rest
        from_first = np.full((n, buckets + 1), np.inf)
        value = graph.energy[i] - slope * graph.time[i]
        steps = np.floor(graph.time[i] / width).astype(np.int64)
        for c in range(len(value)):
            q = steps[c]
            if q <= buckets:
                f = graph.first[i][c]
                np.minimum(from_first[f, q:], value[c] + rest[graph.last[i][c], :buckets + 1 - q],
                           out=from_first[f, q:])
        # from any state: the switch into a first state, then that
        rest = np.full((n, buckets + 1), np.inf)
        for a in range(n):
            for f in range(n):
                q = sw_steps[a, f]
                if np.isfinite(sw_value[a, f]) and q <= buckets:
                    np.minimum(rest[a, q:], sw_value[a, f] + from_first[f, :buckets + 1 - q], out=rest[a, q:])
    return width, after, rest


def _cheaper_plans(problem: PlanProblem, graph: _Graph, upper_bound_uj: float, lam: float,
                   deadline: float, completion=None) -> list[Candidate] | None:
    """The cheapest plan costing less than ``upper_bound_uj``, or None when there is none: label
    setting over exact times (no discretisation). A label is a partial plan (latency, energy)
    ending in a state; per state only labels no other label dominates survive, where A
    dominates B if it is no slower and ``e_A + p x (t_B - t_A) <= e_B`` (p: the highest idle
    power, what the time A saves may cost; see :func:`prune`); a label goes when its fastest
    completion is over budget or a Lagrangian bound of its completions at ``lam`` (either idle
    bound of :func:`_pricings`) or the completion bound (``completion``, from
    :func:`_completion_bounds`, at the latency the label leaves) reaches it. Labels are
    extended by a layer's candidates a chunk at a time, so memory follows the labels kept, not
    labels x candidates."""
    budget = problem.budget_us
    power = problem.max_idle_power_mw() / 1000.0
    _, fastest_rest = _min_over_paths(graph, 1.0, 0.0)
    priced = [(pricing, _min_over_paths(graph, pricing.time_weight, 1.0, pricing.return_time_weight)[1])
              for pricing in _pricings(problem, lam)]
    limit = upper_bound_uj - 1e-9 * max(1.0, abs(upper_bound_uj)) if math.isfinite(upper_bound_uj) else math.inf
    width, after, _ = completion or _completion_bounds(problem, graph)
    slope, _ = _idle_line(problem)
    idle_floor = _idle_floor(problem)
    state = np.array([graph.initial])
    latency = np.zeros(1)
    energy = np.zeros(1)
    history = []  # per layer: (parent label, candidate) of each label

    def extend(i: int, labels: slice):
        switch = graph.switch_time[state[labels, None], graph.first[i][None, :]]
        parent, cand = np.nonzero(np.isfinite(switch))
        end = graph.last[i][cand]
        t = latency[labels][parent] + switch[parent, cand] + graph.time[i][cand]
        e = (energy[labels][parent] + graph.switch_energy[state[labels][parent], graph.first[i][cand]]
             + graph.energy[i][cand])
        alive = t + fastest_rest[i][end] <= budget + 1e-9
        for pricing, rest in priced:
            alive &= e + pricing.time_weight * t + rest[i][end] + pricing.constant < limit
        left = np.floor((budget + 1e-9 - t) / width)
        fits = left >= 0
        left = np.clip(left, 0, after[i].shape[1] - 1).astype(np.int64)
        alive &= fits & (e - slope * t + idle_floor + after[i][end, left] < limit)
        found = (parent[alive] + labels.start, cand[alive], end[alive], t[alive], e[alive])
        keep = _pareto_survivors(found[2], found[3], found[4] - power * found[3])
        return tuple(a[keep] for a in found)

    for i in range(len(problem.layers)):
        step = max(1, EXPANSION_CHUNK // max(1, len(graph.first[i])))
        pieces = []
        for lo in range(0, len(state), step):
            if time.perf_counter() > deadline:
                raise _OutOfTime
            pieces.append(extend(i, slice(lo, lo + step)))
        parent, cand, end, t, e = (np.concatenate(a) for a in zip(*pieces))
        if len(pieces) > 1:
            keep = _pareto_survivors(end, t, e - power * t)
            parent, cand, end, t, e = (a[keep] for a in (parent, cand, end, t, e))
        if len(t) > MAX_LABELS:
            raise _OutOfTime
        state, latency, energy = end, t, e
        history.append((parent, cand))
        if not len(state):
            return None
    home = graph.switch_time[state, graph.initial]
    total = (energy + graph.switch_energy[state, graph.initial]
             + idle_energy_array(problem, problem.period - latency - np.where(np.isfinite(home), home, np.inf)))
    j = int(np.argmin(total)) if len(total) else -1
    if j < 0 or not total[j] < limit:
        return None
    choice = []
    for i in range(len(problem.layers) - 1, -1, -1):
        parent, cand = history[i]
        choice.append(problem.layers[i][int(cand[j])])
        j = int(parent[j])
    return choice[::-1]


def solve_exact(problem: PlanProblem, incumbent: Solution | None = None,
                time_limit_s: float = 10.0) -> Solution | None:
    """The optimal plan over exact times (no discretisation), by label setting with iterative
    bound deepening: labels are kept below ``lower bound + gap``, the gap growing 4x per round
    from 0.01 % of the Lagrangian lower bound until a plan is found (the first found is optimal:
    every cheaper plan's labels were kept) or the gap reaches ``incumbent`` (then it is
    optimal). Cheap when the bound is tight, which it is on the problems here (a few uJ in ten
    thousand). None when no plan fits the budget; on the time limit, ``incumbent`` (not proven)."""
    start = time.perf_counter()
    deadline = start + time_limit_s
    if min_latency_us(problem) > problem.budget_us + 1e-9:
        return None
    if incumbent is None:
        incumbent = _finish(problem, _fastest_choice(problem), False, "fastest", start)
        if not math.isfinite(incumbent.energy_uj) or incumbent.latency_us > problem.budget_us + 1e-9:
            incumbent = None
    cap = incumbent.energy_uj if incumbent is not None else math.inf
    graph = _graph(problem)
    lam, lower = best_multiplier(problem, graph)
    completion = _completion_bounds(problem, graph)
    lower = max(lower, float(completion[2][graph.initial, -1]) + _idle_floor(problem))
    gap = max(1e-4 * abs(lower), 1e-6)
    try:
        while True:
            # with no plan known, the last round (once the gap passes 10x the bound) keeps every label
            bound = min(lower + gap, cap) if gap < 10 * max(abs(lower), 1.0) else cap
            choice = _cheaper_plans(problem, graph, bound, lam, deadline, completion)
            if choice is not None:
                return _finish(problem, choice, True, "exact", start)
            if bound >= cap:
                return None if incumbent is None else replace(incumbent, optimal=True, solver="exact",
                                                              solve_s=time.perf_counter() - start)
            gap *= 4
    except _OutOfTime:
        return incumbent


def _merge_fixed_layers(problem: PlanProblem) -> tuple[PlanProblem, dict]:
    """The same problem with every layer that has one candidate left merged into the layer
    before it (each candidate extended by the switch and that candidate): fewer, equivalent
    layers. Returns it and, per merged candidate, the original candidates it stands for."""
    layers: list[list[Candidate]] = []
    origin: dict = {}
    for cands in problem.layers:
        if len(cands) == 1 and layers:
            only = cands[0]
            merged = []
            for c in layers[-1]:
                t, e = problem.transition(c.last_state, only.first_state)
                m = Candidate(c.layer, (c.key, only.key), c.first_state, only.last_state,
                              c.time_us + t + only.time_us, c.energy_uj + e + only.energy_uj)
                origin[m] = origin.get(c, (c,)) + (only,)
                merged.append(m)
            layers[-1] = merged
        else:
            layers.append(list(cands))
    renumbered = []
    for i, cands in enumerate(layers):
        row = []
        for c in cands:
            r = replace(c, layer=i)
            origin[r] = origin.get(c, (c,))
            row.append(r)
        renumbered.append(tuple(row))
    return replace(problem, layers=tuple(renumbered)), origin


#: Z3 time unit of the PB latency constraint: times are integers of this many microseconds, rounded down.
Z3_TIME_UNIT_US = 0.01


def solve_z3(problem: PlanProblem, time_limit_s: float = 10.0, incumbent: Solution | None = None,
             rlimit: int | None = None) -> Solution | None:
    """Z3 with a bound-tightening loop over ``z3.Solver``: find a plan cheaper than the best
    known, tighten, repeat until unsat — the last plan is then proven optimal.

    The encoding is pseudo-Boolean: one Boolean per candidate (exactly one per layer), one per
    clock switch a pair of consecutive layers may need (equal to: the last state of one and the
    first state of the next), one per idle option; the latency bound holds exactly over the
    rationals, and again as a PB constraint over integer ticks of ``Z3_TIME_UNIT_US`` rounded
    down (a relaxation the SAT core propagates); energy, and the slack the idle energy is paid
    on, are linear sums of exact rationals. Per layer, prefix energy plus a Lagrangian bound of
    every completion (latency priced at 0 and at ``best_multiplier``'s lam*, idle bounded two ways) must stay below the
    bound, so Z3 refutes a partial plan without enumerating its completions.

    ``incumbent`` (the best plan known: :func:`solve_exact`'s optimum in :func:`~.plan.solve`)
    seeds the bound and first shrinks the problem: candidates that no cheaper plan can use go
    (:func:`bound_prune` at 0 and prices around lam*: Lagrangian reduced-cost fixing, sound), and layers left
    with one candidate are merged into the layer before. The bound is tight on these problems
    (lam* leaves a few uJ in ten thousand), so proving the incumbent optimal is one unsat call on
    a small problem. Measured in benchmarks/optimize.py and docs/optimizer.md.

    Returns None when no plan fits; on the time limit, the best plan found with ``optimal``
    False (or None when there is none). ``rlimit``: limit every check by Z3's resource counter
    instead of the clock, so the answer does not depend on the machine's speed (reproducible
    results files).
    """
    import z3

    start = time.perf_counter()
    deadline = start + time_limit_s
    original = problem
    origin: dict = {}
    if incumbent is not None:
        # only plans cheaper than the incumbent matter: fix out the candidates none of them can
        # use (Lagrangian reduced costs at 0 and around lam*), then merge the layers left with one
        lam = best_multiplier(problem)[0]
        prices = (0.0,) + tuple(lam * (1 + k / 100) for k in range(-10, 11))  # each a valid bound
        problem, origin = _merge_fixed_layers(bound_prune(problem, incumbent.energy_uj, prices))
        if any(not cands for cands in problem.layers):
            return replace(incumbent, optimal=True, solver="z3", solve_s=time.perf_counter() - start)

    def ticks(us: float) -> int:
        return math.floor(us / Z3_TIME_UNIT_US)  # down: the PB sum never exceeds the exact one's ticks

    solver = z3.Solver()
    time_terms: list[tuple] = []  # (Bool, ticks): candidate and switch times in ticks, rounded down
    exact_time: list = []  # the same times as exact rationals: the slack the idle energy is paid on
    energy_terms: list = []
    layer_energy: list[list] = [[] for _ in range(len(problem.layers) + 1)]  # per layer, switch into it included
    layer_time: list[list] = [[] for _ in range(len(problem.layers) + 1)]
    layer_vars = []
    for layer, cands in enumerate(problem.layers):
        bools = [z3.Bool(f"c{layer}_{k}") for k in range(len(cands))]
        solver.add(z3.PbEq([(b, 1) for b in bools], 1))
        layer_vars.append(bools)
        for b, c in zip(bools, cands):
            time_terms.append((b, ticks(c.time_us)))
            exact_time.append(z3.If(b, z3.RealVal(c.time_us), 0))
            layer_energy[layer].append(z3.If(b, z3.RealVal(c.energy_uj), 0))

    def boundary(layer: int, which: str) -> dict:
        """state -> Bool: layer ``layer`` starts (``first``) / ends (``last``) in it."""
        out: dict = {}
        for b, c in zip(layer_vars[layer], problem.layers[layer]):
            out.setdefault(getattr(c, f"{which}_state"), []).append(b)
        return {state: z3.Or(bs) if len(bs) > 1 else bs[0] for state, bs in out.items()}

    def charge(condition, t_us: float, e_uj: float, name: str, layer: int):
        y = z3.Bool(name)
        solver.add(y == condition)  # not just implied: a phantom switch would shorten the paid idle
        time_terms.append((y, ticks(t_us)))
        exact_time.append(z3.If(y, z3.RealVal(t_us), 0))
        layer_energy[layer].append(z3.If(y, z3.RealVal(e_uj), 0))
        layer_time[layer].append(z3.If(y, z3.RealVal(t_us), 0))
        return y

    initial = problem.initial_state
    for state, cond in boundary(0, "first").items():
        if state != initial:
            charge(cond, *problem.transition(initial, state), f"in_{state}", 0)
    for layer in range(len(problem.layers) - 1):
        ends, starts = boundary(layer, "last"), boundary(layer + 1, "first")
        for a, ca in ends.items():
            for b, cb in starts.items():
                if a != b:
                    charge(z3.And(ca, cb), *problem.transition(a, b), f"sw{layer}_{a}_{b}", layer + 1)
    back_time = []
    for state, cond in boundary(len(problem.layers) - 1, "last").items():
        if state != initial:
            t_us, e_uj = problem.transition(state, initial)
            y = z3.Bool(f"back_{state}")
            solver.add(y == cond)
            back_time.append(z3.If(y, z3.RealVal(t_us), 0))
            layer_energy[-1].append(z3.If(y, z3.RealVal(e_uj), 0))
    # the budget twice: exactly over the rationals, and as a PB constraint over ticks rounded
    # down (implied by the exact one; it lets the SAT core propagate the knapsack)
    solver.add(z3.Sum(exact_time) <= z3.RealVal(problem.budget_us))
    solver.add(z3.PbLe(time_terms, math.floor(problem.budget_us / Z3_TIME_UNIT_US + 1e-9)))
    slack = z3.RealVal(problem.period) - z3.Sum(exact_time) - (z3.Sum(back_time) if back_time else 0)
    solver.add(slack >= 0)
    modes = _idle_options(problem)
    idle = z3.Real("idle")
    if modes:
        picks = [z3.Bool(f"idle{k}") for k in range(len(modes))]
        solver.add(z3.PbEq([(u, 1) for u in picks], 1))
        for u, (p, w, ew) in zip(picks, modes):
            solver.add(z3.Implies(u, z3.And(slack >= w, idle == z3.RealVal(p) * (slack - w) / 1000 + z3.RealVal(ew))))
    else:
        solver.add(idle == 0, slack == 0)
    # prefix energies E_i, and per layer the least energy any completion from its last state can
    # add (the DP's bounds, latency ignored): "E_i + that + least idle < bound" lets Z3 refute a
    # prefix as soon as it is assigned instead of at the leaves of the search
    prefix = []
    running = z3.RealVal(0)
    for layer, terms in enumerate(layer_energy):
        e_layer = z3.Real(f"E{layer}")
        solver.add(e_layer == running + (z3.Sum(terms) if terms else 0))
        prefix.append(e_layer)
        running = e_layer
    # Lagrangian versions of those bounds: a plan whose prefix up to layer i has energy E_i and
    # latency T_i costs at least E_i + w x T_i + (the least priced completion from its last
    # state) + constant, for each pricing of :func:`_pricings`; at lam* as tight as a linear
    # relaxation of the knapsack
    time_prefix = []
    running_t = z3.RealVal(0)
    for layer in range(len(problem.layers)):
        t_layer = z3.Real(f"T{layer}")
        terms = [z3.If(b, z3.RealVal(c.time_us), 0) for b, c in zip(layer_vars[layer], problem.layers[layer])]
        solver.add(t_layer == running_t + z3.Sum(terms + layer_time[layer]))
        time_prefix.append(t_layer)
        running_t = t_layer
    completions = []
    graph = _graph(problem)
    if incumbent is None:
        lam = best_multiplier(problem, graph)[0]
    for lam in (0.0, lam):  # lam*, of the problem before it shrank: a valid price all the same
        pricing = _best_pricing(problem, graph, lam)[1]  # the tighter of the two idle bounds
        _, out = _min_over_paths(graph, pricing.time_weight, 1.0, pricing.return_time_weight)
        for layer in range(len(problem.layers)):
            ends = boundary(layer, "last")
            for state, cond in ends.items():
                if not math.isfinite(out[layer][graph.index[state]]):
                    solver.add(z3.Not(cond))  # no way on from there
            rest = z3.Sum([z3.If(cond, z3.RealVal(out[layer][graph.index[state]]), 0)
                           for state, cond in ends.items() if math.isfinite(out[layer][graph.index[state]])])
            completions.append(prefix[layer] + z3.RealVal(pricing.time_weight) * time_prefix[layer] + rest
                               + z3.RealVal(pricing.constant))
    objective = prefix[-1] + idle

    best = incumbent
    while True:
        if rlimit is not None:
            solver.set("rlimit", rlimit)
        else:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            solver.set("timeout", max(1, int(remaining * 1000)))
        solver.push()
        if best is not None:
            # strictly cheaper than the best known (a relative margin absorbs float noise)
            bound = best.energy_uj - 1e-9 * max(1.0, abs(best.energy_uj))
            solver.add(objective < bound)
            solver.add(*[completion < bound for completion in completions])
        result = solver.check()
        if result == z3.sat:
            model = solver.model()
            choice = [problem.layers[layer][next(k for k, b in enumerate(bools)
                                                 if z3.is_true(model.eval(b, model_completion=True)))]
                      for layer, bools in enumerate(layer_vars)]
            solver.pop()
            found = _finish(original, [o for c in choice for o in origin.get(c, (c,))], False, "z3", start)
            if best is not None and found.energy_uj >= best.energy_uj:
                break  # no progress in exact arithmetic: the bound is as tight as it gets
            best = found
            continue
        solver.pop()
        if result == z3.unsat:
            if best is None:
                return None
            return _finish(original, best.choice, True, "z3", start)
        break  # unknown: the time limit
    if best is None:
        return None
    return _finish(original, best.choice, False, "z3", start)
