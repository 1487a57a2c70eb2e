"""Solve times and objectives of the plan solvers (Z3, exact label search, DP, greedy) on the bundled
synthetic instances, and the time of a 20-budget Pareto front of the VWW model.

    .venv/bin/python benchmarks/optimize.py [--z3-limit 5] [--board stm32f746g-disco] [--skip-models]

The bundled models are profiled in the emulator first (cached under ~/.cache/stm32dvfs). Every
figure is measured when the script runs; nothing is stored.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

import tvm_stm32dvfs
from tvm_stm32dvfs.models.zoo import ZOO
from tvm_stm32dvfs.optimize import pareto_front, solve, synthetic_problem
from tvm_stm32dvfs.optimize.from_profile import plan_problem
from tvm_stm32dvfs.optimize.plan import minimum_latency_ms
from tvm_stm32dvfs.profile import profile


def _model_problem(name: str, board) -> object:
    mod, params = tvm_stm32dvfs.from_onnx(ZOO[name].int8_path)
    compiled = tvm_stm32dvfs.build(mod, target=f"stm32dvfs-{board.name}", params=params, model_name=f"{name}_int8")
    problem = plan_problem(profile(compiled, board), board, budget_ms=1.0)
    return problem


def _row(table: Table, instance: str, problem, method: str, limit: float) -> None:
    """Z3 and exact once; DP and greedy best of 3 (the first call also pays numpy's warm-up)."""
    times = []
    for _ in range(1 if method in ("z3", "exact") else 3):
        start = time.perf_counter()
        plan = solve(problem, method, time_limit_s=limit)
        times.append(time.perf_counter() - start)
    table.add_row(instance, method, f"{min(times):.3f}", f"{plan.predicted_energy_uj:,.3f}",
                  f"{plan.predicted_latency_ms:.3f}", "yes" if plan.optimal else "-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--z3-limit", type=float, default=5.0, help="Z3 time limit per start state, s")
    parser.add_argument("--board", default="stm32f746g-disco")
    parser.add_argument("--skip-models", action="store_true", help="synthetic instances only")
    args = parser.parse_args()
    board = tvm_stm32dvfs.boards.load(args.board)
    table = Table(title=f"DVFS plan solvers (budget: 1.3 x the fastest; models on {board.name})")
    for col in ("instance", "solver", "time s (DP, greedy: best of 3)", "energy uJ", "latency ms", "proven optimal"):
        table.add_column(col, justify="left" if col in ("instance", "solver") else "right")
    problems = []
    if not args.skip_models:
        for name in sorted(ZOO):
            problem = _model_problem(name, board)
            problems.append((f"{name}_int8 ({len(problem.layers)} layers)", problem))
    for layers, cands, states in ((10, 8, 6), (30, 16, 8), (100, 64, 12)):
        problems.append((f"synthetic {layers}x{cands} ({states} states)", synthetic_problem(layers, cands, states)))
    for label, problem in problems:
        fastest = minimum_latency_ms(problem)
        problem = problem.with_budget(fastest * 1300, problem.period_us)
        for method in ("z3", "exact", "dp", "greedy"):
            _row(table, label, problem, method, args.z3_limit)
    console = Console(width=160)
    console.print(table)
    if not args.skip_models:
        problem = _model_problem("vww_mobilenet", board)
        fastest = minimum_latency_ms(problem)
        start = time.perf_counter()
        front = pareto_front(problem, [fastest * 1000 * (1 + 2 * i / 19) for i in range(20)], method="dp")
        print(f"Pareto front of vww_mobilenet_int8, 20 budgets ({fastest:.1f}..{3 * fastest:.1f} ms), DP: "
              f"{time.perf_counter() - start:.2f} s, {len(front)} plans")


if __name__ == "__main__":
    main()
