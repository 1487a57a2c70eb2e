"""plan_problem: candidates, switch costs and idle options from a Profile and a board."""

from __future__ import annotations

import math

import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.optimize import evaluate, solve
from tvm_stm32dvfs.optimize.from_profile import LayerChoice, plan_problem
from tvm_stm32dvfs.profile import PhaseCost, Profile

BOARD = tvm_stm32dvfs.boards.load("stm32f746g-disco")
STATES = [BOARD.candidate_states()[i] for i in (0, 5, -1)]  # 25 MHz HSE, 144 MHz, 216 MHz


def _rows(layer: int, granularity: str, phase: str, cycles: float, switches: int = 0) -> list[PhaseCost]:
    return [PhaseCost(layer, f"l{layer}", granularity, phase, s.id, s.hz, int(cycles), 0, cycles,
                      cycles / (s.hz / 1e6), BOARD.energy_uj(s, cycles), switches) for s in STATES]


@pytest.fixture
def profile() -> Profile:
    rows = _rows(0, "plain", "plain", 2e5)
    rows += _rows(1, "plain", "plain", 1e6)
    rows += _rows(1, "4x8", "access", 3e5, switches=7) + _rows(1, "4x8", "execute", 6e5, switches=7)
    return Profile(BOARD.name, "toy", tuple(rows))


def test_candidates_cover_plain_at_every_state_and_every_phase_pair(profile):
    problem = plan_problem(profile, BOARD, budget_ms=50)
    plain0, layer1 = problem.layers
    assert {c.key for c in plain0} == {LayerChoice("plain", s.id, s.id) for s in STATES}
    keys = {c.key for c in layer1}
    assert keys >= {LayerChoice("plain", s.id, s.id) for s in STATES}
    assert keys >= {LayerChoice("4x8", a.id, x.id) for a in STATES for x in STATES}
    assert len(layer1) == len(STATES) + len(STATES) ** 2


def test_a_decoupled_layer_pays_its_phase_switches(profile):
    problem = plan_problem(profile, BOARD, budget_ms=50)
    by_key = {c.key: c for c in problem.layers[1]}
    low, high = STATES[0], STATES[-1]
    same = by_key[LayerChoice("4x8", high.id, high.id)]
    mixed = by_key[LayerChoice("4x8", low.id, high.id)]
    access_low = 3e5 / (low.hz / 1e6)
    execute_high = 6e5 / (high.hz / 1e6)
    up, down = BOARD.transition(low, high), BOARD.transition(high, low)
    # 7 changes starting in access: 4 up, 3 down; the layer ends in its execute state
    assert mixed.time_us == pytest.approx(access_low + execute_high + 4 * up.time_us + 3 * down.time_us)
    assert mixed.energy_uj == pytest.approx(BOARD.energy_uj(low, 3e5) + BOARD.energy_uj(high, 6e5)
                                            + 4 * up.energy_uj + 3 * down.energy_uj)
    assert (mixed.first_state, mixed.last_state) == (low.id, high.id)
    assert same.time_us == pytest.approx((3e5 + 6e5) / (high.hz / 1e6))


def test_the_fixed_clock_baseline_is_a_point_of_the_search_space(profile):
    """All plain at the top clock, busy-waiting there: no switch at all, what TinyEngine does."""
    top = STATES[-1].id
    problem = plan_problem(profile, BOARD, budget_ms=50)
    start_top = [p for p in problem.starts() if p.initial_state == top][0]
    baseline = [next(c for c in cands if c.key == LayerChoice("plain", top, top)) for cands in start_top.layers]
    latency, energy, mode = evaluate(start_top, baseline)
    assert latency == pytest.approx((2e5 + 1e6) / 216)
    busy = BOARD.run_power_mw(STATES[-1]) * (50_000 - latency) / 1000
    assert energy <= BOARD.energy_uj(STATES[-1], 1.2e6) + busy + 1e-6
    plan = solve(problem, "dp")
    assert plan.predicted_energy_uj <= energy + 1e-6


def test_stop_is_only_offered_from_the_wakeup_state(profile):
    problem = plan_problem(profile, BOARD, budget_ms=10, period_ms=100)
    wake = BOARD.stop_wakeup_state().id
    assert wake in problem.initial_choices
    stop = [m for m in problem.idle_modes if m.name == "stop"]
    assert len(stop) == 1 and stop[0].requires_state == wake
    assert math.isclose(stop[0].wakeup_us, BOARD.wakeup_us("stop"))
    plan = solve(problem, "dp")
    # 90 ms of slack: stopping beats busy-waiting or sleeping by far
    assert plan.idle_mode == "stop" and plan.initial_state == wake


def test_bad_arguments(profile):
    with pytest.raises(ValueError, match="period"):
        plan_problem(profile, BOARD, budget_ms=10, period_ms=5)
    other = tvm_stm32dvfs.boards.load("nucleo-f411re")
    with pytest.raises(ValueError, match="board"):
        plan_problem(profile, other, budget_ms=10)

