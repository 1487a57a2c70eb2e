"""The energy-optimal DVFS plan under a latency budget (Z3, with an exact DP to check it)."""

from .plan import DvfsPlan, pareto_front, solve
from .problem import Candidate, IdleMode, PlanCheckError, PlanProblem, check_plan, evaluate
from .solvers import brute_force, min_latency_us, prune, solve_dp, solve_exact, solve_greedy, solve_z3
from .synthetic import synthetic_problem

__all__ = [
    "Candidate", "DvfsPlan", "IdleMode", "PlanCheckError", "PlanProblem", "brute_force", "check_plan", "evaluate",
    "min_latency_us", "pareto_front", "prune", "solve", "solve_dp", "solve_exact", "solve_greedy", "solve_z3",
    "synthetic_problem",
]
