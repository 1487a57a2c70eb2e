"""Solvers of :class:`~tvm_stm32dvfs.optimize.problem.PlanProblem`: dominance pruning, an exact DP
over discretised time, a Z3 encoding, a greedy heuristic and brute force (for the tests).

Every solver returns a choice (one candidate per layer) that :func:`check_plan` accepts; times
are rounded *up* wherever they are discretised, so a discretised solution is never over budget.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

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
    from dataclasses import replace

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


def _min_over_paths(problem: PlanProblem, weight, include_return_time: bool = True) -> tuple[list[dict], list[dict]]:
    """Per layer, the least total ``weight`` (of candidates and switches, ignoring every other
    limit) of reaching each first state before it, and of finishing from each last state after it
    (the switch back to the initial state included)."""
    states = problem.states()
    layers = problem.layers
    arrive: list[dict] = []
    best = {problem.initial_state: 0.0}
    for cands in layers:
        into = {f: min(v + weight(problem.transition(s, f)) for s, v in best.items())
                for f in {c.first_state for c in cands}}
        arrive.append(into)
        best = {}
        for c in cands:
            v = into[c.first_state] + weight((c.time_us, c.energy_uj))
            if v < best.get(c.last_state, math.inf):
                best[c.last_state] = v
    leave: list[dict] = [{} for _ in layers]
    after = {s: weight(problem.transition(s, problem.initial_state) if include_return_time
                       else (0.0, problem.transition(s, problem.initial_state)[1])) for s in states}
    for i in range(len(layers) - 1, -1, -1):
        leave[i] = {g: after.get(g, math.inf) for g in {c.last_state for c in layers[i]}}
        if i:
            after = {}
            for s in {c.last_state for c in layers[i - 1]}:
                after[s] = min(weight(problem.transition(s, c.first_state)) + weight((c.time_us, c.energy_uj))
                               + leave[i][c.last_state] for c in layers[i])
    return arrive, leave


def _least_idle_energy(problem: PlanProblem) -> float:
    """A lower bound of the idle energy of any plan within the budget: each idle option at the
    least slack it may see (period - budget - the slowest switch back to the initial state, or
    its wake-up time if that is longer); the options' energies rise with the slack."""
    back = max((problem.transition(s, problem.initial_state)[0] for s in problem.states()
                if s == problem.initial_state or (s, problem.initial_state) in problem.transitions), default=0.0)
    least_slack = max(problem.period - problem.budget_us - back, 0.0)
    options = [(problem.busy_power_mw[problem.initial_state], 0.0, 0.0)] \
        if problem.initial_state in problem.busy_power_mw else []
    options += [(m.power_mw, m.wakeup_us, m.wakeup_energy_uj) for m in problem.idle_modes
                if m.requires_state is None or m.requires_state == problem.initial_state]
    return min((p * (max(least_slack, w) - w) / 1000 + ew for p, w, ew in options), default=0.0)


def _lagrange_multipliers(problem: PlanProblem, points: int = 24) -> list[float]:
    """Prices of latency (uJ per us) for Lagrangian bounds: 0, and the maximiser of
    L(lam) = min over paths of (energy + lam x time) - lam x budget (concave) with its neighbours."""
    def bound(lam: float) -> float:
        arrive, out = _min_over_paths(problem, lambda te: te[1] + lam * te[0], include_return_time=False)
        whole = min(arrive[0][c.first_state] + c.energy_uj + lam * c.time_us + out[0][c.last_state]
                    for c in problem.layers[0])
        return whole - lam * problem.budget_us

    energies = [c.energy_uj for cands in problem.layers for c in cands]
    times = [c.time_us for cands in problem.layers for c in cands]
    hi = max(energies, default=1.0) / max(min(times, default=1.0), 1e-9)
    lo = 0.0
    for _ in range(points):  # ternary search on the concave L
        a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if bound(a) < bound(b):
            lo = a
        else:
            hi = b
    best = (lo + hi) / 2
    return [0.0] + ([best / 2, best, best * 2] if best > 0 else [])


def bound_prune(problem: PlanProblem, upper_bound_uj: float) -> PlanProblem:
    """Drop every candidate that no plan within the budget, or no plan cheaper than
    ``upper_bound_uj`` (a known plan's energy), can use: the fastest plan through it is over
    budget, or the cheapest plan through it (latency ignored, idle at its least) costs more."""
    from dataclasses import replace

    t_in, t_out = _min_over_paths(problem, lambda te: te[0], include_return_time=False)  # latency only
    e_in, e_out = _min_over_paths(problem, lambda te: te[1])
    idle_least = _least_idle_energy(problem)
    margin = 1e-9 * max(1.0, abs(upper_bound_uj))
    layers = []
    for i, cands in enumerate(problem.layers):
        kept = tuple(c for c in cands
                     if t_in[i][c.first_state] + c.time_us + t_out[i][c.last_state] <= problem.budget_us + 1e-9
                     and e_in[i][c.first_state] + c.energy_uj + e_out[i][c.last_state] + idle_least
                     <= upper_bound_uj + margin)
        layers.append(kept)
    return replace(problem, layers=tuple(layers))


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
    """Exact DP over (layer, clock state, time bucket).

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


#: Z3 time unit: times are integers of this many microseconds, rounded up.
Z3_TIME_UNIT_US = 0.01


def solve_z3(problem: PlanProblem, time_limit_s: float = 10.0, incumbent: Solution | None = None,
             rlimit: int | None = None) -> Solution | None:
    """Z3 with a bound-tightening loop over ``z3.Solver``: find a plan cheaper than the best
    known, tighten, repeat until unsat — the last plan is then proven optimal.

    The encoding is pseudo-Boolean: one Boolean per candidate (exactly one per layer), one per
    clock switch a pair of consecutive layers may need (equal to: the last state of one and the
    first state of the next), one per idle option; the latency bound is a PB constraint over
    integer ticks of ``Z3_TIME_UNIT_US`` (rounded up, so a model is never over budget); the
    energy, and the slack the idle energy is paid on, are linear sums of exact rationals.
    ``incumbent`` (e.g. the DP's plan) seeds the bound: proving it optimal is one unsat call.

    Measured (benchmarks/optimize.py, 2 cores): instant on the hypothesis instances of the tests
    (up to 6 x 8). On a real-valued 10 x 8 synthetic instance, plain CDCL(T) found no proof in
    60 s (with this loop or z3.Optimize, sum or soft objectives, PB or arithmetic latency): it
    refutes the knapsack only at the leaves. Prefix cuts with the DP's completion bounds brought
    that to 50 s, Lagrangian ones (latency priced at the relaxation's multiplier) to 2.5 s; a
    30 x 16 instance is still not proven in 60 s. The DP is the practical solver.

    Returns None when no plan fits; on the time limit, the best plan found with ``optimal``
    False (or None when there is none). ``rlimit``: limit every check by Z3's resource counter
    instead of the clock, so the answer does not depend on the machine's speed (reproducible
    results files).
    """
    import z3

    start = time.perf_counter()
    deadline = start + time_limit_s

    def ticks(us: float) -> int:
        return math.ceil(us / Z3_TIME_UNIT_US - 1e-9)

    solver = z3.Solver()
    time_terms: list[tuple] = []  # (Bool, ticks): the budget, rounded up
    exact_time: list = []  # the same times as exact rationals: the slack the idle energy is paid on
    energy_terms: list = []
    layer_energy: list[list] = [[] for _ in range(len(problem.layers) + 1)]  # per layer, switch into it included
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
    solver.add(z3.PbLe(time_terms, math.floor(problem.budget_us / Z3_TIME_UNIT_US + 1e-9)))
    slack = z3.RealVal(problem.period) - z3.Sum(exact_time) - (z3.Sum(back_time) if back_time else 0)
    solver.add(slack >= 0)
    modes = []
    busy = problem.busy_power_mw.get(initial)
    if busy is not None:
        modes.append((busy, 0.0, 0.0))
    modes += [(m.power_mw, m.wakeup_us, m.wakeup_energy_uj) for m in problem.idle_modes
              if m.requires_state is None or m.requires_state == initial]
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
    # Lagrangian versions of those bounds: with the latency priced at lam uJ/us, any completion
    # costs at least S_lam(last state) - lam x (the time left in the budget); lam near the
    # relaxation's optimum makes them as tight as a linear relaxation of the knapsack
    time_prefix = []
    running_t = z3.RealVal(0)
    for layer in range(len(problem.layers)):
        t_layer = z3.Real(f"T{layer}")
        terms = [z3.If(b, z3.RealVal(c.time_us), 0) for b, c in zip(layer_vars[layer], problem.layers[layer])]
        solver.add(t_layer >= running_t + z3.Sum(terms))  # switch times left out: a lower bound
        time_prefix.append(t_layer)
        running_t = t_layer
    idle_least = _least_idle_energy(problem)
    completions = []
    for lam in _lagrange_multipliers(problem):
        _, out = _min_over_paths(problem, lambda te, lam=lam: te[1] + lam * te[0], include_return_time=False)
        for layer in range(len(problem.layers)):
            rest = z3.Sum([z3.If(cond, z3.RealVal(out[layer][state]), 0)
                           for state, cond in boundary(layer, "last").items()])
            budget_left = z3.RealVal(problem.budget_us) - time_prefix[layer]
            completions.append(prefix[layer] + rest - z3.RealVal(lam) * budget_left)
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
            solver.add(*[completion + idle_least < bound for completion in completions])
        result = solver.check()
        if result == z3.sat:
            model = solver.model()
            choice = [problem.layers[layer][next(k for k, b in enumerate(bools)
                                                 if z3.is_true(model.eval(b, model_completion=True)))]
                      for layer, bools in enumerate(layer_vars)]
            solver.pop()
            found = _finish(problem, choice, False, "z3", start)
            if best is not None and found.energy_uj >= best.energy_uj:
                break  # no progress in exact arithmetic: the bound is as tight as it gets
            best = found
            continue
        solver.pop()
        if result == z3.unsat:
            if best is None:
                return None
            return _finish(problem, best.choice, True, "z3", start)
        break  # unknown: the time limit
    if best is None:
        return None
    return _finish(problem, best.choice, False, "z3", start)
