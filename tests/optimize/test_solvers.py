"""The plan solvers against brute force, and the properties every plan must have."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_stm32dvfs.errors import InfeasibleBudgetError
from tvm_stm32dvfs.optimize import (PlanCheckError, brute_force, check_plan, evaluate, min_latency_us, pareto_front,
                                    prune, solve, solve_dp, solve_z3, synthetic_problem)

small = st.tuples(st.integers(1, 6), st.integers(1, 8), st.integers(2, 4), st.integers(0, 10_000),
                  st.floats(1.0, 2.5))


@settings(max_examples=25, deadline=None)
@given(small)
def test_z3_and_dp_equal_brute_force(spec):
    layers, cands, states, seed, slack = spec
    problem = synthetic_problem(layers, cands, states, seed=seed, integer=True, slack=slack)
    exact = brute_force(problem)
    if exact is None:  # no plan fits latency + the switch back within the period
        for method in ("z3", "dp"):
            with pytest.raises(InfeasibleBudgetError):
                solve(problem, method, buckets=int(problem.budget_us))
        return
    z3_plan = solve(problem, "z3", time_limit_s=30)
    assert z3_plan.optimal
    assert z3_plan.predicted_energy_uj == pytest.approx(exact.energy_uj, abs=1e-9)
    # integer data, one bucket per microsecond: the DP is exact here
    dp_plan = solve(problem, "dp", buckets=int(problem.budget_us))
    assert dp_plan.predicted_energy_uj == pytest.approx(exact.energy_uj, abs=1e-9)
    for plan in (z3_plan, dp_plan, solve(problem, "greedy")):
        assert plan.predicted_latency_ms * 1000 <= problem.budget_us + 1e-9
        assert plan.predicted_energy_uj >= exact.energy_uj - 1e-9


@settings(max_examples=20, deadline=None)
@given(small)
def test_pruning_keeps_the_optimum(spec):
    layers, cands, states, seed, slack = spec
    problem = synthetic_problem(layers, cands, states, seed=seed, integer=True, slack=slack)
    full, pruned = brute_force(problem), brute_force(prune(problem))
    assert (full is None) == (pruned is None)
    if full is not None:
        assert pruned.energy_uj == pytest.approx(full.energy_uj)


@settings(max_examples=30, deadline=None)
@given(small)
def test_bound_pruning_keeps_every_optimal_plan(spec):
    """Pruned by the optimum's own energy as the bound, the optimum must survive."""
    from tvm_stm32dvfs.optimize.solvers import bound_prune

    layers, cands, states, seed, slack = spec
    problem = synthetic_problem(layers, cands, states, seed=seed, integer=True, slack=slack)
    problem = problem.with_budget(problem.budget_us, problem.budget_us * 2 + 10)
    exact = brute_force(problem)
    if exact is None:
        return
    kept = bound_prune(problem, exact.energy_uj)
    for layer, c in enumerate(exact.choice):
        assert c in kept.layers[layer]
    assert brute_force(kept).energy_uj == pytest.approx(exact.energy_uj)


def test_energy_never_rises_when_the_budget_is_relaxed():
    problem = synthetic_problem(8, 10, 5, seed=3)
    fastest = min_latency_us(problem)
    plans = pareto_front(problem, [fastest * f for f in (1.0, 1.1, 1.3, 1.6, 2.0, 3.0)], method="dp")
    assert len(plans) >= 5
    energies = [p.predicted_energy_uj for p in plans]
    assert all(b <= a + 1e-6 for a, b in zip(energies, energies[1:]))
    assert all(p.predicted_latency_ms <= p.budget_ms + 1e-12 for p in plans)
    assert len({p.period_ms for p in plans}) == 1


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_exact_optimum_never_rises_when_the_budget_is_relaxed_at_a_fixed_period(seed):
    """The property itself, without pareto_front's envelope: Z3's proven optima."""
    problem = synthetic_problem(4, 5, 3, seed=seed, integer=True, slack=1.0)
    fastest = problem.budget_us
    period = 3 * fastest + 20
    energies = []
    for factor in (1.0, 1.5, 2.0, 3.0):
        try:
            plan = solve(problem.with_budget(fastest * factor, period), "z3", time_limit_s=30)
        except InfeasibleBudgetError:
            energies.append(float("inf"))
            continue
        assert plan.optimal
        energies.append(plan.predicted_energy_uj)
    assert all(b <= a + 1e-9 for a, b in zip(energies, energies[1:]))


def test_infeasible_budget_states_the_minimum():
    problem = synthetic_problem(5, 4, 3, seed=1)
    fastest = min_latency_us(problem)
    with pytest.raises(InfeasibleBudgetError, match=rf"minimum achievable latency is {fastest / 1000:.3f} ms"):
        solve(problem.with_budget(fastest * 0.9), "dp")


def test_checker_names_the_broken_limit():
    problem = synthetic_problem(4, 5, 3, seed=2, integer=True)
    plan = solve(problem, "dp", buckets=int(problem.budget_us))
    slow = [max(cands, key=lambda c: c.time_us) for cands in problem.layers]
    latency, energy, _ = evaluate(problem, slow)
    tight = problem.with_budget(latency - 1)
    with pytest.raises(PlanCheckError, match="exceeds the budget"):
        check_plan(tight, slow, latency, energy)
    with pytest.raises(PlanCheckError, match="differ from the recomputed"):
        check_plan(problem, plan.choices, plan.predicted_latency_ms * 1000, plan.predicted_energy_uj + 1)


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("model", ["kws_dscnn", "mcunet_ir", "ic_resnet8", "vww_mobilenet"])
def test_z3_and_dp_agree_on_the_first_layers_of_each_bundled_model(model):
    """Real candidates (the emulated profile on the default board), the first three layers of the
    model's plan problem — what Z3 proves from scratch in seconds; on whole models it does not
    within a minute (docs/optimizer.md). Z3's proven optimum E* never exceeds the DP's plan; and
    the DP, whose times are rounded up to buckets of budget/2000 (at most 2 x layers + 1 buckets
    per plan) and which prices the idle slack on those rounded times, finds a plan no costlier
    than the optimum of the budget tightened by that rounding, plus the idle power over it."""
    from dataclasses import replace

    import tvm_stm32dvfs
    from tvm_stm32dvfs.models.zoo import ZOO
    from tvm_stm32dvfs.optimize.from_profile import plan_problem
    from tvm_stm32dvfs.profile import profile

    board = tvm_stm32dvfs.boards.load("stm32f746g-disco")
    mod, params = tvm_stm32dvfs.from_onnx(ZOO[model].int8_path)
    compiled = tvm_stm32dvfs.build(mod, params=params, model_name=f"{model}_int8")
    whole = replace(plan_problem(profile(compiled, board), board, 1000.0), initial_choices=())
    first = replace(whole, layers=whole.layers[:3])
    budget = 1.5 * min_latency_us(first)
    problem = prune(replace(first, budget_us=budget, period_us=budget))
    dp = solve_dp(problem, buckets=2000)
    z3_best = solve_z3(problem, time_limit_s=120)
    assert z3_best.optimal
    assert z3_best.energy_uj <= dp.energy_uj * (1 + 1e-9)
    rounding_us = (2 * len(problem.layers) + 1) * budget / 2000
    z3_tight = solve_z3(replace(problem, budget_us=budget - rounding_us), time_limit_s=120)
    assert z3_tight.optimal
    assert dp.energy_uj <= z3_tight.energy_uj + problem.max_idle_power_mw() * rounding_us / 1000 + 1e-9
