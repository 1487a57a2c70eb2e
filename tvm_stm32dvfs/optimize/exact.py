"""The exact label search over exact times: optimal, seeded by the DP, checked by Z3.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from .graph import (Solution, StateGraph, best_multiplier, fastest_choice, finish, idle_floor, idle_line,
                    min_latency_us, min_over_paths, pricings, state_graph)
from .problem import Candidate, PlanProblem, idle_energy_array

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


def _completion_bounds(problem: PlanProblem, graph: StateGraph, buckets: int = COMPLETION_BUCKETS):
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
    slope, _ = idle_line(problem)
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


def _cheaper_plans(problem: PlanProblem, graph: StateGraph, upper_bound_uj: float, lam: float,
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
    _, fastest_rest = min_over_paths(graph, 1.0, 0.0)
    priced = [(pricing, min_over_paths(graph, pricing.time_weight, 1.0, pricing.return_time_weight)[1])
              for pricing in pricings(problem, lam)]
    limit = upper_bound_uj - 1e-9 * max(1.0, abs(upper_bound_uj)) if math.isfinite(upper_bound_uj) else math.inf
    width, after, _ = completion or _completion_bounds(problem, graph)
    slope, _ = idle_line(problem)
    floor = idle_floor(problem)
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
        alive &= fits & (e - slope * t + floor + after[i][end, left] < limit)
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
        incumbent = finish(problem, fastest_choice(problem), False, "fastest", start)
        if not math.isfinite(incumbent.energy_uj) or incumbent.latency_us > problem.budget_us + 1e-9:
            incumbent = None
    cap = incumbent.energy_uj if incumbent is not None else math.inf
    graph = state_graph(problem)
    lam, lower = best_multiplier(problem, graph)
    completion = _completion_bounds(problem, graph)
    lower = max(lower, float(completion[2][graph.initial, -1]) + idle_floor(problem))
    gap = max(1e-4 * abs(lower), 1e-6)
    try:
        while True:
            # with no plan known, the last round (once the gap passes 10x the bound) keeps every label
            bound = min(lower + gap, cap) if gap < 10 * max(abs(lower), 1.0) else cap
            choice = _cheaper_plans(problem, graph, bound, lam, deadline, completion)
            if choice is not None:
                return finish(problem, choice, True, "exact", start)
            if bound >= cap:
                return None if incumbent is None else replace(incumbent, optimal=True, solver="exact",
                                                              solve_s=time.perf_counter() - start)
            gap *= 4
    except _OutOfTime:
        return incumbent
