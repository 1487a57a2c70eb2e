"""Seeded synthetic plan problems for the tests and the benchmark.

States have frequencies 16..216 MHz and a power that rises superlinearly with frequency (as the
run currents do, with voltage); a candidate runs a layer's access and execute phases at two of
them, its time and energy from cycles / frequency and power x time; switching between different
states costs a PLL-relock-like 100-300 us, nothing between equal ones.
"""

from __future__ import annotations

import numpy as np

from .problem import Candidate, IdleMode, PlanProblem


def synthetic_problem(layers: int, candidates: int, states: int = 8, seed: int = 0, integer: bool = False,
                      slack: float = 1.5) -> PlanProblem:
    rng = np.random.default_rng(seed)
    mhz = np.linspace(16, 216, states)
    power_mw = 5 + 0.25 * mhz + 0.0012 * mhz**2  # superlinear in frequency

    def num(v):
        return float(round(v)) if integer else float(v)

    names = [f"s{i}" for i in range(states)]
    transitions = {}
    for a in range(states):
        for b in range(states):
            if a != b:
                t = num(rng.uniform(100, 300) if not integer else rng.integers(1, 5))
                transitions[(names[a], names[b])] = (t, num(t * (power_mw[a] + power_mw[b]) / 2000))
    all_layers = []
    for layer in range(layers):
        access_cycles = rng.uniform(2e4, 2e5)
        execute_cycles = rng.uniform(5e4, 5e5)
        cands = []
        for k in range(candidates):
            a, e = rng.integers(0, states, size=2)
            stall = access_cycles * (1 + 0.3 * mhz[a] / 216)  # memory stalls grow with the clock
            t_us = stall / mhz[a] + execute_cycles / mhz[e] + (transitions.get((names[a], names[e]), (0, 0))[0] / 10)
            energy = (stall / mhz[a]) * power_mw[a] / 1000 + (execute_cycles / mhz[e]) * power_mw[e] / 1000
            if integer:
                t_us, energy = rng.integers(1, 20), rng.integers(1, 50)
            cands.append(Candidate(layer, (k, names[a], names[e]), names[a], names[e], num(t_us), num(energy)))
        all_layers.append(tuple(cands))
    problem = PlanProblem(tuple(all_layers), transitions, names[-1], 1.0,
                          idle_modes=(IdleMode("sleep", num(2.0) if integer else 20.0, num(1) if integer else 0.5),
                                      IdleMode("stop", num(1.0) if integer else 1.5, num(3) if integer else 14.0,
                                               num(1) if integer else 0.2)),
                          busy_power_mw={n: num(p) for n, p in zip(names, power_mw)},
                          name=f"synthetic {layers}x{candidates}")
    from .graph import min_latency_us

    fastest = min_latency_us(problem)
    budget = num(fastest * slack) if not integer else float(int(fastest * slack) + 1)
    return problem.with_budget(budget)
