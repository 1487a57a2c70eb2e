"""Brute force over every plan: the reference the tests check the solvers against, on small
instances.
"""

from __future__ import annotations

import itertools
import math
import time

from .graph import Solution, finish
from .problem import PlanProblem, evaluate

def brute_force(problem: PlanProblem) -> Solution:
    start = time.perf_counter()
    best = None
    for choice in itertools.product(*problem.layers):
        latency, energy, _ = evaluate(problem, choice)
        if latency <= problem.budget_us + 1e-9 and math.isfinite(energy) and (best is None or energy < best[0] - 1e-12):
            best = (energy, choice)
    if best is None:
        return None
    return finish(problem, best[1], True, "brute-force", start)
