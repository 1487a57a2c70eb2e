"""The greedy heuristic: a point of comparison, no optimality claim.
"""

from __future__ import annotations

import math
import time

from .graph import Solution, fastest_choice, finish
from .problem import Candidate, PlanProblem, evaluate

def solve_greedy(problem: PlanProblem) -> Solution | None:
    """Start from each layer's fastest candidate, then repeatedly take the swap with the best
    energy saved per microsecond added while the budget holds (a third point of comparison, no
    optimality claim). A swap changes one layer and its two switches: evaluated in O(1)."""
    start = time.perf_counter()
    layers = problem.layers
    choice = fastest_choice(problem)
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
    return finish(problem, choice, False, "greedy", start)
