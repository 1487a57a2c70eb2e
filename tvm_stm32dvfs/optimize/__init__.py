"""The minimum-energy DVFS plan under a latency budget: a DP over discretised time (fast, within
a bucket of the optimum), the exact label search, and Z3, which proves the exact plan optimal."""

from .plan import DvfsPlan, pareto_front, solve
from .problem import Candidate, IdleMode, PlanCheckError, PlanProblem, check_plan, evaluate
from .solvers import brute_force, min_latency_us, prune, solve_dp, solve_exact, solve_greedy, solve_z3
from .synthetic import synthetic_problem

__all__ = [
    "Candidate", "DvfsPlan", "IdleMode", "PlanCheckError", "PlanProblem", "brute_force", "check_plan", "evaluate",
    "min_latency_us", "pareto_front", "prune", "solve", "solve_dp", "solve_exact", "solve_greedy", "solve_z3",
    "synthetic_problem",
]
