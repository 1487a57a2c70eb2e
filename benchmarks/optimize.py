"""Solve times and objectives of the plan solvers (Z3, DP, greedy) on synthetic instances.

    .venv/bin/python benchmarks/optimize.py [--z3-limit 5]

Prints, per instance, each solver's wall time, predicted energy and latency, and whether
optimality was proven; then the time of a 20-budget Pareto front by DP. Measured, not stored.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from tvm_stm32dvfs.errors import SolverLimitError
from tvm_stm32dvfs.optimize import min_latency_us, pareto_front, solve, synthetic_problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--z3-limit", type=float, default=5.0, help="Z3 time limit, s")
    args = parser.parse_args()
    table = Table(title="DVFS plan solvers")
    for col in ("instance", "solver", "time s", "energy uJ", "latency ms", "optimal"):
        table.add_column(col, justify="left" if col in ("instance", "solver") else "right")
    for layers, cands, states in ((10, 8, 6), (30, 16, 8), (100, 64, 12)):
        problem = synthetic_problem(layers, cands, states, seed=0)
        for method in ("z3", "dp", "greedy"):
            start = time.perf_counter()
            try:
                plan = solve(problem, method, time_limit_s=args.z3_limit)
                row = (f"{plan.predicted_energy_uj:,.1f}", f"{plan.predicted_latency_ms:.3f}", str(plan.optimal))
            except SolverLimitError:
                row = ("-", "-", f"no proof in {args.z3_limit:g} s")
            table.add_row(f"{layers}x{cands} ({states} states)", method, f"{time.perf_counter() - start:.3f}", *row)
    problem = synthetic_problem(30, 16, 8, seed=0)
    fastest = min_latency_us(problem)
    start = time.perf_counter()
    front = pareto_front(problem, [fastest * (1 + 2 * i / 19) for i in range(20)], method="dp")
    Console(width=160).print(table)
    print(f"Pareto front, 20 budgets, 30x16 instance, DP: {time.perf_counter() - start:.2f} s, {len(front)} plans")


if __name__ == "__main__":
    main()
