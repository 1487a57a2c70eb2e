"""The plan solvers against brute force, and the properties every plan must have."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_stm32dvfs.errors import InfeasibleBudgetError
from tvm_stm32dvfs.optimize import (PlanCheckError, brute_force, check_plan, evaluate, min_latency_us, pareto_front,
                                    prune, solve, solve_dp, solve_exact, solve_z3, synthetic_problem)

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
    from tvm_stm32dvfs.optimize.graph import best_multiplier, bound_prune

    layers, cands, states, seed, slack = spec
    problem = synthetic_problem(layers, cands, states, seed=seed, integer=True, slack=slack)
    problem = problem.with_budget(problem.budget_us, problem.budget_us * 2 + 10)
    exact = brute_force(problem)
    if exact is None:
        return
    lam, lower = best_multiplier(problem)
    assert lower <= exact.energy_uj + 1e-9
    for prices in ((0.0,), (0.0, lam), tuple(lam * (1 + k / 10) for k in range(-5, 6))):
        kept = bound_prune(problem, exact.energy_uj, prices)
        for layer, c in enumerate(exact.choice):
            assert c in kept.layers[layer]
        assert brute_force(kept).energy_uj == pytest.approx(exact.energy_uj)


@settings(max_examples=40, deadline=None)
@given(small, st.booleans())
def test_exact_label_search_equals_brute_force(spec, integer):
    """Real-valued instances too: the label search has no discretisation."""
    layers, cands, states, seed, slack = spec
    problem = synthetic_problem(layers, cands, states, seed=seed, integer=integer, slack=slack)
    problem = problem.with_budget(problem.budget_us, problem.budget_us * 1.5)
    want = brute_force(problem)
    got = solve_exact(problem)
    if want is None:
        assert got is None
        return
    assert got.optimal
    assert got.energy_uj == pytest.approx(want.energy_uj, rel=1e-12, abs=1e-9)
    check_plan(problem, got.choice, got.latency_us, got.energy_uj)
    seeded = solve_exact(problem, incumbent=solve_dp(problem))  # capped by a (maybe worse) plan
    assert seeded.optimal and seeded.energy_uj == pytest.approx(want.energy_uj, rel=1e-12, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(small)
def test_merging_single_candidate_layers_keeps_every_plan(spec):
    from tvm_stm32dvfs.optimize.smt import _merge_fixed_layers

    layers, cands, states, seed, slack = spec
    problem = synthetic_problem(layers, cands, states, seed=seed, slack=slack)
    # leave one candidate in every other layer, as bound pruning does
    thinned = replace(problem, layers=tuple(cs[:1] if i % 2 else cs for i, cs in enumerate(problem.layers)))
    merged, origin = _merge_fixed_layers(thinned)
    assert len(merged.layers) == sum(1 for i, cs in enumerate(thinned.layers) if i == 0 or len(cs) > 1)
    want, got = brute_force(thinned), brute_force(merged)
    assert (want is None) == (got is None)
    if want is not None:
        assert got.energy_uj == pytest.approx(want.energy_uj)
        assert [o for c in got.choice for o in origin[c]] and \
            evaluate(thinned, [o for c in got.choice for o in origin[c]])[1] == pytest.approx(got.energy_uj)


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


def _whole_problem(model: str):
    """The plan problem of a bundled int8 model on the default board (emulated profile), from
    its default start state."""
    import tvm_stm32dvfs
    from tvm_stm32dvfs.models.zoo import ZOO
    from tvm_stm32dvfs.optimize.from_profile import plan_problem
    from tvm_stm32dvfs.profile import profile

    board = tvm_stm32dvfs.boards.load("stm32f746g-disco")
    mod, params = tvm_stm32dvfs.from_onnx(ZOO[model].int8_path)
    compiled = tvm_stm32dvfs.build(mod, params=params, model_name=f"{model}_int8")
    return replace(plan_problem(profile(compiled, board), board, 1000.0), initial_choices=())


def _assert_dp_within_its_rounding(problem, optimum) -> None:
    """``optimum(problem)``'s proven optimum E* never exceeds the DP's plan; and the DP, whose
    times are rounded up to buckets of budget/2000 (at most 2 x layers + 1 buckets per plan)
    and which prices the idle slack on those rounded times, finds a plan no costlier than the
    optimum of the budget tightened by that rounding, plus the idle power over it."""
    dp = solve_dp(problem, buckets=2000)
    best = optimum(problem)
    assert best.optimal
    assert best.energy_uj <= dp.energy_uj * (1 + 1e-9)
    rounding_us = (2 * len(problem.layers) + 1) * problem.budget_us / 2000
    tight = optimum(replace(problem, budget_us=problem.budget_us - rounding_us))
    assert tight.optimal
    assert dp.energy_uj <= tight.energy_uj + problem.max_idle_power_mw() * rounding_us / 1000 + 1e-9


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("model", ["kws_dscnn", "mcunet_ir", "ic_resnet8", "vww_mobilenet"])
def test_z3_and_dp_agree_on_the_first_layers_of_each_bundled_model(model):
    """Real candidates, the first three layers of the model's plan problem: what Z3 proves from
    scratch (no incumbent) in seconds."""
    whole = _whole_problem(model)
    first = replace(whole, layers=whole.layers[:3])
    budget = 1.5 * min_latency_us(first)
    _assert_dp_within_its_rounding(prune(replace(first, budget_us=budget, period_us=budget)),
                                   lambda p: solve_z3(p, time_limit_s=120))


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("model", ["kws_dscnn", "mcunet_ir", "ic_resnet8", "vww_mobilenet"])
def test_dp_is_within_its_discretisation_of_the_exact_optimum_on_whole_models(model):
    """Whole models, a tight and a loose budget, against the exact label search."""
    whole = _whole_problem(model)
    for factor in (1.2, 2.0):
        budget = factor * min_latency_us(whole)
        _assert_dp_within_its_rounding(prune(replace(whole, budget_us=budget, period_us=budget)),
                                       lambda p: solve_exact(p, solve_dp(p), time_limit_s=300))


@pytest.mark.slow
def test_z3_proves_the_synthetic_100_layer_instance_optimal():
    """The benchmark's instance (its solve time is printed by benchmarks/optimize.py, not timed
    here): Z3, seeded by the exact label search, proves that plan optimal; the DP's plan, whose
    ~300 time terms are each rounded up to a bucket of budget/2000, is no cheaper."""
    problem = synthetic_problem(100, 64, 12)
    problem = problem.with_budget(1.3 * min_latency_us(problem))
    z3_plan = solve(problem, "z3", time_limit_s=60)
    exact = solve_exact(prune(problem))
    assert z3_plan.optimal and exact.optimal
    assert z3_plan.predicted_energy_uj == pytest.approx(exact.energy_uj, rel=1e-12)
    assert solve(problem, "dp").predicted_energy_uj >= exact.energy_uj - 1e-9


