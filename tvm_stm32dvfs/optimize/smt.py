"""The Z3 encoding: proves a plan optimal (or finds a cheaper one, which would be a bug of the
other solvers).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

from .graph import (Solution, best_multiplier, best_pricing, bound_prune, finish, idle_options, min_over_paths,
                    state_graph)
from .problem import Candidate, PlanProblem

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
    start = time.perf_counter()
    deadline = start + time_limit_s
    original = problem
    origin: dict = {}
    lam = None
    if incumbent is not None:
        # only plans cheaper than the incumbent matter: fix out the candidates none of them can
        # use (Lagrangian reduced costs at 0 and around lam*), then merge the layers left with one
        lam = best_multiplier(problem)[0]
        prices = (0.0,) + tuple(lam * (1 + k / 100) for k in range(-10, 11))  # each a valid bound
        problem, origin = _merge_fixed_layers(bound_prune(problem, incumbent.energy_uj, prices))
        if any(not cands for cands in problem.layers):
            return replace(incumbent, optimal=True, solver="z3", solve_s=time.perf_counter() - start)
    encoding = _Encoding(problem, lam)

    def finished(choice, optimal: bool) -> Solution:
        return finish(original, [o for c in choice for o in origin.get(c, (c,))], optimal, "z3", start)

    best = incumbent
    while True:
        if rlimit is None and deadline - time.perf_counter() <= 0:
            break
        result, choice = encoding.cheaper_than(best, rlimit, deadline)
        if choice is not None:
            found = finished(choice, False)
            if best is not None and found.energy_uj >= best.energy_uj:
                break  # no progress in exact arithmetic: the bound is as tight as it gets
            best = found
        elif result == "unsat":
            return None if best is None else finish(original, best.choice, True, "z3", start)
        else:
            break  # unknown: the time limit
    return None if best is None else finish(original, best.choice, False, "z3", start)


def _ticks(us: float) -> int:
    return math.floor(us / Z3_TIME_UNIT_US)  # down: the PB sum never exceeds the exact one's ticks


class _Encoding:
    """The pseudo-Boolean encoding of :func:`solve_z3` on one ``z3.Solver``: the choices, the
    switches they imply, the budget, the idle options and the prefix bounds; ``lam``, the price
    of latency of one of the Lagrangian prefix bounds (lam* of the problem when None)."""

    def __init__(self, problem: PlanProblem, lam: float | None):
        import z3

        self.z3, self.problem = z3, problem
        self.solver = z3.Solver()
        self.time_terms: list[tuple] = []  # (Bool, ticks): candidate and switch times in ticks, rounded down
        self.exact_time: list = []  # the same times as exact rationals: the slack the idle energy is paid on
        self.layer_energy: list[list] = [[] for _ in range(len(problem.layers) + 1)]  # switch into it included
        self.layer_time: list[list] = [[] for _ in range(len(problem.layers) + 1)]
        self.layer_vars: list[list] = []
        self._choices()
        self._switches()
        self.objective = self._budget_and_idle()
        self.completions = self._prefix_bounds(lam)

    def _choices(self) -> None:
        z3 = self.z3
        for layer, cands in enumerate(self.problem.layers):
            bools = [z3.Bool(f"c{layer}_{k}") for k in range(len(cands))]
            self.solver.add(z3.PbEq([(b, 1) for b in bools], 1))
            self.layer_vars.append(bools)
            for b, c in zip(bools, cands):
                self.time_terms.append((b, _ticks(c.time_us)))
                self.exact_time.append(z3.If(b, z3.RealVal(c.time_us), 0))
                self.layer_energy[layer].append(z3.If(b, z3.RealVal(c.energy_uj), 0))

    def boundary(self, layer: int, which: str) -> dict:
        """state -> Bool: layer ``layer`` starts (``first``) / ends (``last``) in it."""
        out: dict = {}
        for b, c in zip(self.layer_vars[layer], self.problem.layers[layer]):
            out.setdefault(getattr(c, f"{which}_state"), []).append(b)
        return {state: self.z3.Or(bs) if len(bs) > 1 else bs[0] for state, bs in out.items()}

    def _charge(self, condition, t_us: float, e_uj: float, name: str, layer: int) -> None:
        z3 = self.z3
        y = z3.Bool(name)
        self.solver.add(y == condition)  # not just implied: a phantom switch would shorten the paid idle
        self.time_terms.append((y, _ticks(t_us)))
        self.exact_time.append(z3.If(y, z3.RealVal(t_us), 0))
        self.layer_energy[layer].append(z3.If(y, z3.RealVal(e_uj), 0))
        self.layer_time[layer].append(z3.If(y, z3.RealVal(t_us), 0))

    def _switches(self) -> None:
        z3, problem = self.z3, self.problem
        initial = problem.initial_state
        for state, cond in self.boundary(0, "first").items():
            if state != initial:
                self._charge(cond, *problem.transition(initial, state), f"in_{state}", 0)
        for layer in range(len(problem.layers) - 1):
            ends, starts = self.boundary(layer, "last"), self.boundary(layer + 1, "first")
            for a, ca in ends.items():
                for b, cb in starts.items():
                    if a != b:
                        self._charge(z3.And(ca, cb), *problem.transition(a, b), f"sw{layer}_{a}_{b}", layer + 1)

    def _budget_and_idle(self):
        """The budget, the return switch and the idle energy of the slack; returns the objective."""
        z3, problem, solver = self.z3, self.problem, self.solver
        initial = problem.initial_state
        back_time = []
        for state, cond in self.boundary(len(problem.layers) - 1, "last").items():
            if state != initial:
                t_us, e_uj = problem.transition(state, initial)
                y = z3.Bool(f"back_{state}")
                solver.add(y == cond)
                back_time.append(z3.If(y, z3.RealVal(t_us), 0))
                self.layer_energy[-1].append(z3.If(y, z3.RealVal(e_uj), 0))
        # the budget twice: exactly over the rationals, and as a PB constraint over ticks rounded
        # down (implied by the exact one; it lets the SAT core propagate the knapsack)
        solver.add(z3.Sum(self.exact_time) <= z3.RealVal(problem.budget_us))
        solver.add(z3.PbLe(self.time_terms, math.floor(problem.budget_us / Z3_TIME_UNIT_US + 1e-9)))
        slack = z3.RealVal(problem.period) - z3.Sum(self.exact_time) - (z3.Sum(back_time) if back_time else 0)
        solver.add(slack >= 0)
        modes = idle_options(problem)
        idle = z3.Real("idle")
        if modes:
            picks = [z3.Bool(f"idle{k}") for k in range(len(modes))]
            solver.add(z3.PbEq([(u, 1) for u in picks], 1))
            for u, (p, w, ew) in zip(picks, modes):
                solver.add(z3.Implies(u, z3.And(slack >= w, idle == z3.RealVal(p) * (slack - w) / 1000 + z3.RealVal(ew))))
        else:
            solver.add(idle == 0, slack == 0)
        # prefix energies E_i: the objective is the last plus the idle energy
        self.prefix = []
        running = z3.RealVal(0)
        for layer, terms in enumerate(self.layer_energy):
            e_layer = z3.Real(f"E{layer}")
            solver.add(e_layer == running + (z3.Sum(terms) if terms else 0))
            self.prefix.append(e_layer)
            running = e_layer
        return self.prefix[-1] + idle

    def _prefix_bounds(self, lam: float | None) -> list:
        """Per layer, lower bounds of every plan through a prefix: a plan whose prefix up to
        layer i has energy E_i and latency T_i costs at least E_i + w x T_i + (the least priced
        completion from its last state) + constant, for the pricing of :func:`best_pricing` at 0
        (latency ignored) and at ``lam``; at lam* as tight as a linear relaxation of the knapsack.
        "bound < the best known" lets Z3 refute a prefix as soon as it is assigned instead of at
        the leaves of the search."""
        z3, problem, solver = self.z3, self.problem, self.solver
        time_prefix = []
        running_t = z3.RealVal(0)
        for layer in range(len(problem.layers)):
            t_layer = z3.Real(f"T{layer}")
            terms = [z3.If(b, z3.RealVal(c.time_us), 0) for b, c in zip(self.layer_vars[layer], problem.layers[layer])]
            solver.add(t_layer == running_t + z3.Sum(terms + self.layer_time[layer]))
            time_prefix.append(t_layer)
            running_t = t_layer
        completions = []
        graph = state_graph(problem)
        if lam is None:
            lam = best_multiplier(problem, graph)[0]
        for price in (0.0, lam):  # lam*, of the problem before it shrank: a valid price all the same
            pricing = best_pricing(problem, graph, price)[1]  # the tighter of the two idle bounds
            _, out = min_over_paths(graph, pricing.time_weight, 1.0, pricing.return_time_weight)
            for layer in range(len(problem.layers)):
                ends = self.boundary(layer, "last")
                for state, cond in ends.items():
                    if not math.isfinite(out[layer][graph.index[state]]):
                        solver.add(z3.Not(cond))  # no way on from there
                rest = z3.Sum([z3.If(cond, z3.RealVal(out[layer][graph.index[state]]), 0)
                               for state, cond in ends.items() if math.isfinite(out[layer][graph.index[state]])])
                completions.append(self.prefix[layer] + z3.RealVal(pricing.time_weight) * time_prefix[layer] + rest
                                   + z3.RealVal(pricing.constant))
        return completions

    def cheaper_than(self, best: Solution | None, rlimit: int | None, deadline: float):
        """One check: ("sat", a plan strictly cheaper than ``best``), or ("unsat" / "unknown",
        None)."""
        z3, solver = self.z3, self.solver
        if rlimit is not None:
            solver.set("rlimit", rlimit)
        else:
            solver.set("timeout", max(1, int((deadline - time.perf_counter()) * 1000)))
        solver.push()
        try:
            if best is not None:
                # strictly cheaper than the best known (a relative margin absorbs float noise)
                bound = best.energy_uj - 1e-9 * max(1.0, abs(best.energy_uj))
                solver.add(self.objective < bound)
                solver.add(*[completion < bound for completion in self.completions])
            result = solver.check()
            if result != z3.sat:
                return ("unsat" if result == z3.unsat else "unknown"), None
            model = solver.model()
            return "sat", [self.problem.layers[layer][next(k for k, b in enumerate(bools)
                                                            if z3.is_true(model.eval(b, model_completion=True)))]
                           for layer, bools in enumerate(self.layer_vars)]
        finally:
            solver.pop()
