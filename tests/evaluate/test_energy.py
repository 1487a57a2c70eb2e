"""The policy evaluation: baselines inside (e)'s search space, the LP bound, perturbations,
and the emulated runs of every plan of a bundled model on the default board."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.evaluate.energy import (PLAIN_POLICIES, POLICIES, QOS_LEVELS, baseline_plan, evaluate_policies,
                                           lp_lower_bound_uj, perturbed_problem, policy_plans, qos_budgets_ms,
                                           summaries, write_csv, write_json)
from tvm_stm32dvfs.optimize import brute_force, evaluate
from tvm_stm32dvfs.optimize.from_profile import PLAIN, plan_problem
from tvm_stm32dvfs.optimize.plan import minimum_latency_ms
from tvm_stm32dvfs.profile import PhaseCost, Profile

BOARD = tvm_stm32dvfs.boards.load("stm32f746g-disco")
STATES = [BOARD.candidate_states()[i] for i in (0, 3, 5, -1)]


def _rows(layer: int, granularity: str, phase: str, instructions: float, flash_reads: int = 0,
          switches: int = 0) -> list[PhaseCost]:
    out = []
    for s in STATES:
        cycles = instructions + flash_reads * 0.125 * (s.wait_states + 1)
        out.append(PhaseCost(layer, f"l{layer}", granularity, phase, s.id, s.hz, int(instructions), flash_reads,
                             cycles, cycles / (s.hz / 1e6), BOARD.energy_uj(s, cycles), switches))
    return out


@pytest.fixture
def profile() -> Profile:
    """Three layers; the middle one has a DAE tile whose access phase reads flash."""
    rows = _rows(0, PLAIN, "plain", 2e5)
    rows += _rows(1, PLAIN, "plain", 1.2e6, flash_reads=400_000)
    rows += _rows(1, "4x8", "access", 2e5, flash_reads=20_000, switches=5) + _rows(1, "4x8", "execute", 7e5, switches=5)
    rows += _rows(2, PLAIN, "plain", 5e5, flash_reads=1000)
    return Profile(BOARD.name, "toy", tuple(rows))


def _budgets(profile):
    """From the fastest plan (DAE tiles, which only (e) and the DAE race meet) to 3x the baseline."""
    fastest = minimum_latency_ms(plan_problem(profile, BOARD, 1.0))
    return [fastest, *qos_budgets_ms(baseline_plan(profile, BOARD).predicted_latency_ms)]


def test_the_qos_ladder_is_the_baselines_latency_times_the_levels(profile):
    base = baseline_plan(profile, BOARD)
    assert {(c.key.granularity, c.key.access_state) for c in base.choices} == {(PLAIN, BOARD.max_state().id)}
    # the plain kernels at the fastest state, from the profile's own rows
    fastest = BOARD.max_state().id
    plain_us = sum(r.time_us for r in profile.rows if r.granularity == PLAIN and r.state == fastest)
    assert base.predicted_latency_ms == pytest.approx(plain_us / 1000)
    assert qos_budgets_ms(base.predicted_latency_ms) == pytest.approx([q * plain_us / 1000 for q in QOS_LEVELS])
    rows = evaluate_policies(None, BOARD, profile, method="dp", emulate_runs=False)
    assert sorted({r.qos for r in rows}) == pytest.approx(list(QOS_LEVELS))
    first = {r.policy: r for r in rows if r.qos == 1.0}
    assert first["tinyengine"].feasible and first["tinyengine_sleep"].feasible
    assert len(rows) == len(POLICIES) * len(QOS_LEVELS)  # a level a policy cannot meet is a row too
    with pytest.raises(ValueError, match="at least 1.0"):
        qos_budgets_ms(1.0, [0.9, 1.0])


def test_the_saving_splits_into_the_kernel_and_the_dvfs_effect(profile):
    rows = evaluate_policies(None, BOARD, profile, method="dp", emulate_runs=False)
    for q in QOS_LEVELS:
        level = {r.policy: r for r in rows if r.qos == q}
        e, b, race = level["dae_dvfs"], level["tinyengine_sleep"], level["dae_race"]
        assert e.kernel_effect == pytest.approx(100 * (b.energy_uj - race.energy_uj) / b.energy_uj)
        assert e.dvfs_effect == pytest.approx(100 * (race.energy_uj - e.energy_uj) / b.energy_uj)
        assert e.kernel_effect + e.dvfs_effect == pytest.approx(e.saving_vs_tinyengine_sleep)
        assert e.kernel_effect > 0  # the toy's DAE tile is faster than its plain kernel
    (summary,) = summaries(rows)
    assert summary.levels_vs_tinyengine_sleep == len(QOS_LEVELS)
    mine = [r for r in rows if r.policy == "dae_dvfs"]
    assert summary.max_vs_tinyengine_sleep == max(r.saving_vs_tinyengine_sleep for r in mine)
    assert summary.mean_kernel_effect + summary.mean_dvfs_effect == pytest.approx(summary.mean_vs_tinyengine_sleep)


def _brute_force_uj(problem) -> float | None:
    """The least energy of any plan of ``problem`` from any start state: every plan enumerated."""
    found = [s.energy_uj for s in (brute_force(p) for p in problem.starts()) if s is not None]
    return min(found) if found else None


def test_dae_dvfs_and_layer_dvfs_are_the_brute_force_optima(profile):
    """(e) and (d) against an independent search over every plan (not against the baselines
    they are compared with: those are points of their search spaces by construction)."""
    for budget in _budgets(profile):
        problem = plan_problem(profile, BOARD, budget)
        plans = policy_plans(problem, BOARD, "exact")
        assert plans["dae_dvfs"].predicted_energy_uj == pytest.approx(_brute_force_uj(problem), rel=1e-9), budget
        plain_only = replace(problem, layers=tuple(tuple(c for c in cands if c.key.granularity == PLAIN)
                                                   for cands in problem.layers))
        best_plain = _brute_force_uj(plain_only)
        if best_plain is None:
            assert plans["layer_dvfs"] is None, budget
        else:
            assert plans["layer_dvfs"].predicted_energy_uj == pytest.approx(best_plain, rel=1e-9), budget


def test_every_policy_plan_is_costed_as_the_shared_problem(profile):
    for budget in _budgets(profile):
        problem = plan_problem(profile, BOARD, budget)
        plans = policy_plans(problem, BOARD, "dp")
        assert plans["dae_dvfs"] is not None
        for name, plan in plans.items():
            if plan is None:
                continue
            # every plan's figures are those of the shared problem from its start state
            # (TinyEngine as shipped may only busy-wait)
            start = replace(problem, initial_state=plan.initial_state, initial_choices=(),
                            idle_modes=() if name == "tinyengine" else problem.idle_modes)
            latency, energy, _ = evaluate(start, plan.choices)
            assert latency / 1000 <= budget * (1 + 1e-9), name
            assert energy == pytest.approx(plan.predicted_energy_uj), name


def test_the_baselines_are_what_their_names_say(profile):
    fastest = BOARD.max_state().id
    budgets = _budgets(profile)
    plans = policy_plans(plan_problem(profile, BOARD, budgets[-1]), BOARD, "dp")
    for name in ("tinyengine", "tinyengine_sleep"):
        assert {(c.key.granularity, c.key.access_state) for c in plans[name].choices} == {(PLAIN, fastest)}
    assert plans["tinyengine"].idle_mode == "busy"
    assert plans["tinyengine_sleep"].idle_mode in ("sleep", "stop")
    assert plans["tinyengine_sleep"].predicted_energy_uj < plans["tinyengine"].predicted_energy_uj
    static = {c.key.access_state for c in plans["static_dvfs"].choices}
    assert len(static) == 1 and all(c.key.granularity == PLAIN for c in plans["static_dvfs"].choices)
    # no slower state runs the plain model within the budget
    (state,) = static
    problem = plan_problem(profile, BOARD, budgets[-1])
    for slower in [s for s in STATES if s.hz < BOARD.state(state).hz]:
        choice = [next(c for c in cands if c.key == type(c.key)(PLAIN, slower.id, slower.id)) for cands in problem.layers]
        sub = replace(problem, initial_state=slower.id, initial_choices=())
        assert evaluate(sub, choice)[0] > problem.budget_us
    assert all(c.key.granularity == PLAIN for c in plans["layer_dvfs"].choices)
    assert {c.key.access_state for c in plans["dae_race"].choices} == {fastest}


def test_the_lp_bound_is_below_the_optimum(profile):
    for budget in _budgets(profile)[::3]:
        problem = plan_problem(profile, BOARD, budget)
        bound = lp_lower_bound_uj(problem)
        best = min(brute_force(p).energy_uj for p in problem.starts() if brute_force(p) is not None)
        assert math.isfinite(bound) and 0 < bound <= best * (1 + 1e-9)
        # and not vacuous: within the switch and discreteness costs of the optimum
        assert bound > 0.5 * best


def test_perturbations_move_the_coefficients_they_name(profile):
    budget = _budgets(profile)[-1]
    base = plan_problem(profile, BOARD, budget)
    flash = perturbed_problem(profile, BOARD, budget, flash=1.2)
    for cands, slower in zip(base.layers, flash.layers):
        for c, d in zip(cands, slower):
            assert d.time_us >= c.time_us
    # layer 1's plain kernel reads flash: it slows down; layer 0 reads none: unchanged
    assert flash.layers[1][0].time_us > base.layers[1][0].time_us
    assert flash.layers[0][0].time_us == base.layers[0][0].time_us
    run = perturbed_problem(profile, BOARD, budget, run=0.8)
    assert run.layers[2][1].energy_uj == pytest.approx(0.8 * base.layers[2][1].energy_uj)
    assert [m.power_mw for m in run.idle_modes] == [m.power_mw for m in base.idle_modes]
    idle = perturbed_problem(profile, BOARD, budget, idle=1.2)
    assert [m.power_mw for m in idle.idle_modes] == pytest.approx([1.2 * m.power_mw for m in base.idle_modes])


def test_rows_are_written_as_json_and_csv(profile, tmp_path):
    rows = evaluate_policies(None, BOARD, profile, budgets_ms=_budgets(profile)[-2:], method="dp", emulate_runs=False)
    assert [r.policy for r in rows] == list(POLICIES) * 2
    write_json(rows, tmp_path / "rows.json")
    write_csv(rows, tmp_path / "rows.csv")
    data = json.loads((tmp_path / "rows.json").read_text())
    assert len(data) == len(rows)
    for record in data:
        assert {"policy", "budget_ms", "latency_ms", "predicted_latency_ms", "energy_uj"} <= set(record)
    header = (tmp_path / "rows.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["model", "board", "policy", "budget_ms"]


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.xdist_group("zoo")
def test_every_plan_meets_its_budget_in_the_emulated_firmware():
    """kws int8 on the default board at 8 QoS levels: each policy's plan compiled, run in the
    emulator with the F7 clock driver; the emulated figures are reported and checked."""
    from tvm_stm32dvfs.models.zoo import ZOO
    from tvm_stm32dvfs.profile import profile

    mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].int8_path)
    compiled = tvm_stm32dvfs.build(mod, params=params, model_name="kws_dscnn_int8")
    rows = evaluate_policies(compiled, BOARD, profile(compiled, BOARD))
    budgets = sorted({r.budget_ms for r in rows})
    assert len(budgets) == len(QOS_LEVELS) and budgets[-1] == pytest.approx(3 * budgets[0])
    # the ladder starts at the baseline's latency: plain kernels at the fastest state, as emulated
    first = {r.policy: r for r in rows if r.budget_ms == budgets[0]}
    assert first["tinyengine"].latency_ms == pytest.approx(budgets[0], rel=1e-4)
    assert first["tinyengine"].latency_ms <= budgets[0]
    for budget in budgets:
        level = {r.policy: r for r in rows if r.budget_ms == budget}
        e = level["dae_dvfs"]
        assert e.feasible
        for name in ("tinyengine_sleep", "static_dvfs", "layer_dvfs"):
            if level[name].feasible:
                assert e.energy_uj <= level[name].energy_uj, (budget, name)
        assert e.kernel_effect + e.dvfs_effect == pytest.approx(e.saving_vs_tinyengine_sleep)
    # the baselines run the plain kernels of build(dae=False): no layer of their firmware is tiled
    for r in rows:
        if r.policy in PLAIN_POLICIES and r.feasible:
            assert all(c.key.granularity == PLAIN for c in r.plan.choices)
            assert not any(layer.decoupled for layer in compiled.with_plan(r.plan).layers), r.policy
    feasible = [r for r in rows if r.feasible]
    assert any(r.policy == "tinyengine" for r in feasible)
    for r in feasible:
        assert r.meets_budget, (r.budget_ms, r.policy, r.latency_ms)
        # the prediction is the emulated run up to the clock driver's own instructions
        assert r.latency_ms == pytest.approx(r.predicted_latency_ms, rel=1e-3)
        assert r.energy_uj == pytest.approx(r.predicted_energy_uj, rel=1e-3)
        assert r.lower_bound_uj <= r.energy_uj * (1 + 1e-12)  # equal when the bound is attained (float sums)
