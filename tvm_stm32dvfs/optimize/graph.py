"""The plan problem as a graph over clock states, and what every solver computes on it: the
shortest paths (by latency, energy or a Lagrangian price of both), dominance and bound pruning,
the fastest plan and the idle options; :class:`Solution`, what a solver returns.

Times are exact here; where a solver discretises them it says which way it rounds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from .problem import Candidate, PlanProblem, evaluate

@dataclass(frozen=True)
class Solution:
    choice: tuple[Candidate, ...]
    latency_us: float
    energy_uj: float
    idle_mode: str
    optimal: bool
    solver: str
    solve_s: float


def finish(problem, choice, optimal, solver, start) -> Solution:
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
class StateGraph:
    """The problem as a graph over clock states, as arrays over state indices: every solver's
    shortest paths (latency, energy, or priced mixes of both) run on it."""

    states: list
    index: dict
    first: list  # per layer: each candidate's first-state index
    last: list
    time: list  # per layer: each candidate's time (us) and energy (uJ)
    energy: list
    switch_time: np.ndarray  # (from, to): us, inf where there is no such switch; 0 on the diagonal
    switch_energy: np.ndarray  # uJ, 0 where there is no such switch
    initial: int
    starts: list  # the states a path may begin in (the initial one unless given)


def state_graph(problem: PlanProblem, starts=None) -> StateGraph:
    """The graph of ``problem``; its paths start in the initial state, or in any of ``starts``."""
    starts = [problem.initial_state] if starts is None else list(starts)
    states = sorted(set(problem.states()) | set(starts), key=repr)
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    switch_time = np.full((n, n), np.inf)
    switch_energy = np.zeros((n, n))
    for a in states:
        for b in states:
            if a == b or (a, b) in problem.transitions:
                switch_time[index[a], index[b]], switch_energy[index[a], index[b]] = problem.transition(a, b)
    return StateGraph(states, index,
                      [np.array([index[c.first_state] for c in cands], dtype=np.int64) for cands in problem.layers],
                      [np.array([index[c.last_state] for c in cands], dtype=np.int64) for cands in problem.layers],
                      [np.array([c.time_us for c in cands]) for cands in problem.layers],
                      [np.array([c.energy_uj for c in cands]) for cands in problem.layers],
                      switch_time, switch_energy, index[problem.initial_state], [index[s] for s in starts])


def weighted(graph: StateGraph, time_weight: float, energy_weight: float,
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


def forward(graph: StateGraph, switch: np.ndarray, weights: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Per layer the least weight of reaching each first state (the switch into it included),
    and after the last layer the least weight of ending in each state."""
    arrive: list[np.ndarray] = []
    best = np.full(len(graph.states), np.inf)
    best[graph.starts] = 0.0
    for first, last, w in zip(graph.first, graph.last, weights):
        into = (best[:, None] + switch).min(axis=0)
        arrive.append(into)
        best = np.full(len(graph.states), np.inf)
        np.minimum.at(best, last, into[first] + w)
    return arrive, best


def min_over_paths(graph: StateGraph, time_weight: float, energy_weight: float,
                    return_time_weight: float = 0.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per layer, over state indices, the least ``time_weight x time + energy_weight x energy``
    (of candidates and switches, every other limit ignored) of reaching each first state of the
    layer, the switch into it included (``arrive``), and of finishing from each last state
    after it, the switch back to the initial state included with its time weighed by
    ``return_time_weight`` (it is not latency) (``leave``); inf where there is no path."""
    switch, weights, after = weighted(graph, time_weight, energy_weight, return_time_weight)
    arrive, _ = forward(graph, switch, weights)
    leave: list[np.ndarray] = [after] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        leave[i] = after
        from_first = np.full(len(graph.states), np.inf)
        np.minimum.at(from_first, graph.first[i], weights[i] + after[graph.last[i]])
        after = (switch + from_first[None, :]).min(axis=1)
    return arrive, leave


def through(graph: StateGraph, arrive: list[np.ndarray], leave: list[np.ndarray], weights) -> list[np.ndarray]:
    """Per layer, per candidate: the least weight of a whole path through it."""
    return [arrive[i][graph.first[i]] + w + leave[i][graph.last[i]] for i, w in enumerate(weights)]


def idle_options(problem: PlanProblem) -> list[tuple[float, float, float]]:
    """(power mW, wake-up us, wake-up uJ) of every way to fill the slack: busy-waiting in the
    start state, and the idle modes usable from it."""
    options = [(problem.busy_power_mw[problem.initial_state], 0.0, 0.0)] \
        if problem.initial_state in problem.busy_power_mw else []
    return options + [(m.power_mw, m.wakeup_us, m.wakeup_energy_uj) for m in problem.idle_modes
                      if m.requires_state is None or m.requires_state == problem.initial_state]


def least_idle_energy(problem: PlanProblem) -> float:
    """A lower bound of the idle energy of any plan within the budget: each idle option at the
    least slack it may see (period - budget - the slowest switch back to the initial state, or
    its wake-up time if that is longer); the options' energies rise with the slack."""
    back = max((problem.transition(s, problem.initial_state)[0] for s in problem.states()
                if s == problem.initial_state or (s, problem.initial_state) in problem.transitions), default=0.0)
    least_slack = max(problem.period - problem.budget_us - back, 0.0)
    return min((p * (max(least_slack, w) - w) / 1000 + ew for p, w, ew in idle_options(problem)), default=0.0)


def idle_floor(problem: PlanProblem) -> float:
    """What the idle line adds to a completion bound besides ``-slope x (t + T + R)``:
    ``slope x period + offset``, the offset capped at 0 (an empty slack costs nothing)."""
    slope, offset = idle_line(problem)
    return slope * problem.period + min(offset, 0.0)


def idle_line(problem: PlanProblem) -> tuple[float, float]:
    """(slope uJ/us, offset uJ) of a line under every idle option's energy as a function of the
    slack: the lowest idle power, and min over options of wake-up energy - power x wake-up time."""
    options = idle_options(problem)
    return (min((p for p, _, _ in options), default=0.0) / 1000,
            min((ew - p * w / 1000 for p, w, ew in options), default=0.0))


@dataclass(frozen=True)
class Pricing:
    """One Lagrangian lower bound of the period's energy: a plan with latency T, busy energy E
    (switch back included) and return switch time R costs at least
    ``E + time_weight x T + return_time_weight x R + constant``, which paths minimise."""

    time_weight: float
    return_time_weight: float
    constant: float


def pricings(problem: PlanProblem, lam: float) -> tuple[Pricing, Pricing]:
    """The two bounds at price ``lam`` >= 0 of latency (uJ per us): E + lam x (T - B) (<= E
    within the budget B) plus either the least idle energy any plan pays, or a line under every
    idle option, slope x slack + offset with slack = period - T - R (slope: the lowest idle
    power; offset: min over options of wake-up energy - power x wake-up time) — the second
    charges a fast plan for the long idle it buys."""
    slope, offset = idle_line(problem)
    budget = problem.budget_us
    return (Pricing(lam, 0.0, least_idle_energy(problem) - lam * budget),
            Pricing(lam - slope, -slope, slope * problem.period + offset - lam * budget))


def priced_paths(graph: StateGraph, pricing: Pricing) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``_min_over_paths`` under a pricing, with each candidate's weight."""
    arrive, leave = min_over_paths(graph, pricing.time_weight, 1.0, pricing.return_time_weight)
    return arrive, leave, [pricing.time_weight * t + e for t, e in zip(graph.time, graph.energy)]


def best_pricing(problem: PlanProblem, graph: StateGraph, lam: float) -> tuple[float, Pricing]:
    """The better of the two lower bounds at ``lam`` of every plan's period energy, and its
    pricing."""
    bounds = []
    for pricing in pricings(problem, lam):
        switch, weights, home = weighted(graph, pricing.time_weight, 1.0, pricing.return_time_weight)
        bounds.append((float((forward(graph, switch, weights)[1] + home).min()) + pricing.constant, pricing))
    return max(bounds, key=lambda b: b[0])


def best_multiplier(problem: PlanProblem, graph: StateGraph | None = None, iterations: int = 40) -> tuple[float, float]:
    """(lam*, its bound): the price of latency (uJ per us) that maximises the Lagrangian lower
    bound of the period's energy (ternary search; each of the two bounds is concave in lam),
    and that bound."""
    graph = graph or state_graph(problem)
    times = [t for ts in graph.time for t in ts]
    energies = [e for es in graph.energy for e in es]
    hi = max(energies, default=1.0) / max(min(times, default=1.0), 1e-9)
    lo = 0.0
    for _ in range(iterations):
        a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if best_pricing(problem, graph, a)[0] < best_pricing(problem, graph, b)[0]:
            lo = a
        else:
            hi = b
    lam = (lo + hi) / 2
    return lam, best_pricing(problem, graph, lam)[0]


def bound_prune(problem: PlanProblem, upper_bound_uj: float, multipliers=(0.0,)) -> PlanProblem:
    """Drop every candidate that no plan within the budget, or no plan as cheap as
    ``upper_bound_uj`` (a known plan's energy), can use: the fastest plan through it is over
    budget, or at some price ``lam`` of latency in ``multipliers`` (uJ per us, >= 0) a
    Lagrangian lower bound (:func:`_pricings`) of every plan through it exceeds the bound
    (reduced-cost fixing; lam = 0 is the cheapest plan through it, latency ignored;
    ``best_multiplier``'s lam* is the tightest single price)."""
    graph = state_graph(problem)
    t_in, t_out = min_over_paths(graph, 1.0, 0.0)  # latency only
    keep = [t <= problem.budget_us + 1e-9 for t in through(graph, t_in, t_out, graph.time)]
    margin = 1e-9 * max(1.0, abs(upper_bound_uj))
    for lam in multipliers:
        for pricing in pricings(problem, lam):
            per_candidate = through(graph, *priced_paths(graph, pricing))
            keep = [k & (v + pricing.constant <= upper_bound_uj + margin) for k, v in zip(keep, per_candidate)]
    return replace(problem, layers=tuple(tuple(c for c, k in zip(cands, kept) if k)
                                         for cands, kept in zip(problem.layers, keep)))


def min_latency_us(problem: PlanProblem, starts=None) -> float:
    """The fastest inference possible (shortest path over states), ignoring energy, from the
    initial state (or the fastest of ``starts``)."""
    graph = state_graph(problem, starts if starts is not None else [problem.initial_state])
    switch, weights, _ = weighted(graph, 1.0, 0.0, 0.0)
    return float(forward(graph, switch, weights)[1].min())


def fastest_choice(problem: PlanProblem) -> list[Candidate]:
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
