"""The minimum-energy DVFS plan under a latency budget, and its application to the model.

``problem`` (a :class:`PlanProblem` from a profile: ``from_profile``), one state graph every
solver computes on (``graph``), one module per solver — the DP over discretised time (``dp``,
fast, within a bucket of the optimum), the exact label search (``exact``), Z3, which proves the
exact plan optimal (``smt``), greedy (``greedy``) and brute force (``brute``, for the tests) —
the plan and its entry points (``plan``: :func:`solve`, :func:`pareto_front`), then the plan on
the model: :class:`AnnotateDvfs` (``annotate``) and :func:`apply_plan` (``apply``).
"""

from .annotate import AnnotateDvfs
from .apply import apply_plan, with_clock_states
from .brute import brute_force
from .dp import solve_dp
from .exact import solve_exact
from .graph import Solution, min_latency_us, prune
from .greedy import solve_greedy
from .plan import DvfsPlan, pareto_front, solve
from .problem import Candidate, IdleMode, PlanCheckError, PlanProblem, check_plan, evaluate
from .smt import solve_z3
from .synthetic import synthetic_problem

__all__ = [
    "AnnotateDvfs", "Candidate", "DvfsPlan", "IdleMode", "PlanCheckError", "PlanProblem", "Solution", "apply_plan",
    "brute_force", "check_plan", "evaluate", "min_latency_us", "pareto_front", "prune", "solve", "solve_dp",
    "solve_exact", "solve_greedy", "solve_z3", "synthetic_problem", "with_clock_states",
]
