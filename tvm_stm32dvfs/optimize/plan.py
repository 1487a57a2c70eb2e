"""``DvfsPlan`` and the entry points: ``solve`` (z3, exact, dp or greedy) and ``pareto_front``."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Sequence

from ..errors import InfeasibleBudgetError
from ..vocabulary import DEFAULT_SOLVER as DEFAULT_METHOD
from .problem import Candidate, PlanProblem, check_plan
from .dp import solve_dp, solve_dp_budgets
from .exact import solve_exact
from .graph import Solution, min_latency_us, prune
from .greedy import solve_greedy
from .smt import solve_z3


#: the solvers: Z3 (proves optimality), exact label search (exact times), the DP over discretised
#: time (the fast path), greedy (a point of comparison)
METHODS = ("z3", "exact", "dp", "greedy")


@dataclass(frozen=True)
class DvfsPlan:
    """Per layer the chosen candidate, with the plan's predicted figures: what a solver found
    (``solution``) at the problem's budget and period, from its initial state."""

    solution: Solution
    budget_ms: float
    period_ms: float
    initial_state: object = None  # the state the period starts and idles in

    choices = property(lambda self: self.solution.choice, doc="The candidate of every layer.")
    predicted_latency_ms = property(lambda self: self.solution.latency_us / 1000)
    predicted_energy_uj = property(lambda self: self.solution.energy_uj, doc="One period's energy, predicted.")
    idle_mode = property(lambda self: self.solution.idle_mode, doc="How the rest of the period is spent.")
    optimal = property(lambda self: self.solution.optimal, doc="Proven optimal by its solver.")
    solver = property(lambda self: self.solution.solver)
    solve_s = property(lambda self: self.solution.solve_s)

    @classmethod
    def from_solution(cls, problem: PlanProblem, s: Solution) -> "DvfsPlan":
        return cls(s, problem.budget_us / 1000, problem.period / 1000, problem.initial_state)


def _min_latency(problem: PlanProblem) -> float:
    return min_latency_us(problem, [p.initial_state for p in problem.starts()])


def minimum_latency_ms(problem: PlanProblem) -> float:
    """The fastest inference any plan achieves (over every start state), in ms."""
    return _min_latency(problem) / 1000


def _infeasible(problem: PlanProblem) -> InfeasibleBudgetError:
    fastest = _min_latency(problem)
    return InfeasibleBudgetError(
        f"latency budget {problem.budget_us / 1000:.3f} ms is infeasible on {problem.name}: the minimum achievable "
        f"latency is {fastest / 1000:.3f} ms; raise --latency-ms to at least {fastest / 1000:.3f}"
    )


def _solve_one(problem: PlanProblem, method: str, time_limit_s: float, buckets: int,
               rlimit: int | None = None) -> Solution | None:
    pruned = prune(problem)
    if method == "z3":
        # the DP's plan caps the exact label search, whose optimum seeds Z3: Z3 then proves it
        # optimal (or finds a cheaper plan, which would be a bug of the labels)
        start = time.perf_counter()
        incumbent = solve_exact(pruned, solve_dp(pruned, buckets), time_limit_s)
        remaining = max(time_limit_s - (time.perf_counter() - start), 0.1)
        return solve_z3(pruned, remaining, incumbent=incumbent, rlimit=rlimit)
    if method == "dp":
        return solve_dp(pruned, buckets)
    if method == "exact":
        return solve_exact(pruned, solve_dp(pruned, buckets), time_limit_s)
    if method == "greedy":
        return solve_greedy(pruned)
    raise ValueError(f"unknown method {method!r} (z3, exact, dp or greedy)")


def solve(problem: PlanProblem, method: str = DEFAULT_METHOD, time_limit_s: float = 10.0, buckets: int = 2000,
          rlimit: int | None = None) -> DvfsPlan:
    """The minimum-energy plan within the budget. Raises InfeasibleBudgetError (with the fastest
    possible latency) when no plan meets it. Every answer is rechecked by ``check_plan``.

    With ``problem.initial_choices`` every start state is solved and the cheapest plan wins
    (optimal when each of those solves is). ``rlimit``: see :func:`~.smt.solve_z3`."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (z3, exact, dp or greedy)")
    if _min_latency(problem) > problem.budget_us + 1e-9:
        raise _infeasible(problem)
    start = time.perf_counter()
    best: tuple[Solution, PlanProblem] | None = None
    for candidate in problem.starts():
        if min_latency_us(candidate) > candidate.budget_us + 1e-9:
            continue
        solution = _solve_one(candidate, method, time_limit_s, buckets, rlimit)
        if solution is not None:
            check_plan(candidate, solution.choice, solution.latency_us, solution.energy_uj)
            if best is None or solution.energy_uj < best[0].energy_uj:
                best = (solution, candidate)
    if best is None:
        raise _infeasible(problem)
    solution, chosen = best
    return DvfsPlan.from_solution(chosen, replace(solution, solve_s=time.perf_counter() - start))


def pareto_front(problem: PlanProblem, budgets_us: Sequence[float], method: str = DEFAULT_METHOD,
                 time_limit_s: float = 10.0, buckets: int = 2000) -> list[DvfsPlan]:
    """One plan per feasible budget, loosest last, at one period for all (the problem's, else
    the largest budget), so the energies compare: the energy of one period never rises as the
    budget is relaxed. A plan of a tighter budget also meets a looser one; where a discretised
    solver finds a costlier plan for the looser budget, the tighter budget's plan is kept. The
    DP solves every budget from one forward pass per start state."""
    period = problem.period_us if problem.period_us is not None else max(budgets_us)
    budgets = sorted(budgets_us)
    fixed = problem.with_budget(max(budgets), period)
    if method == "dp":
        start = time.perf_counter()
        best: list = [None] * len(budgets)
        for candidate in fixed.starts():
            if min_latency_us(candidate) > candidate.budget_us + 1e-9:
                continue
            pruned = prune(candidate)
            for i, solution in enumerate(solve_dp_budgets(pruned, budgets, buckets)):
                if solution is None:
                    continue
                within = candidate.with_budget(budgets[i], period)
                check_plan(within, solution.choice, solution.latency_us, solution.energy_uj)
                if best[i] is None or solution.energy_uj < best[i][0].energy_uj:
                    best[i] = (solution, within)
        solved = [DvfsPlan.from_solution(within, replace(solution, solve_s=time.perf_counter() - start))
                  for solution, within in (b for b in best if b is not None)]
    else:
        solved = []
        for budget in budgets:
            try:
                solved.append(solve(problem.with_budget(budget, period), method, time_limit_s))
            except InfeasibleBudgetError:
                continue
    plans: list[DvfsPlan] = []
    for plan in solved:
        if plans and plans[-1].predicted_energy_uj < plan.predicted_energy_uj:
            plan = replace(plans[-1], budget_ms=plan.budget_ms)
        plans.append(plan)
    return plans
