"""The clock driver's own cost per switch, measured in the emulator, and where the plan pays it."""

import pytest

from tvm_stm32dvfs.boards import load
from tvm_stm32dvfs.sim.switches import switch_cycles


@pytest.mark.emulator
@pytest.mark.parametrize("board_name", ["stm32f746g-disco", "nucleo-h743zi2", "nucleo-l4r5zi"])
def test_every_switch_runs_the_driver_and_relocking_costs_more(board_name):
    board = load(board_name)
    states = board.candidate_states()
    cycles = switch_cycles(board, [s.id for s in states])
    assert set(cycles) == {(a.id, b.id) for a in states for b in states if a != b}
    assert all(c > 20 for c in cycles.values())  # at least the calls, the reads and the writes
    if board.data.family == "L4":
        return  # on the L4+ a change of MSI range also goes through HSI16: no cheap class of switch
    # leaving a PLL state for another PLL configuration programs and locks the PLL: more driver
    # work than leaving it for the oscillator alone at the same voltage scale
    pll = [s for s in states if s.uses_pll]
    direct = [s for s in states if not s.uses_pll]
    relocks = [cycles[(a.id, b.id)] for a in pll for b in pll if a != b and a.scale == b.scale
               and (a.pll_m, a.pll_n, a.pll_p) != (b.pll_m, b.pll_n, b.pll_p)]
    plain = [cycles[(a.id, b.id)] for a in pll for b in direct if a.scale == b.scale]
    assert relocks and plain
    assert min(relocks) > max(plain)


def test_the_plan_pays_the_driver_at_the_slower_clock():
    from tvm_stm32dvfs.optimize.from_profile import switch_cost
    from tvm_stm32dvfs.profile import Profile

    board = load("stm32f746g-disco")
    a, b = board.candidate_states()[0], board.max_state()
    measured = Profile(board.name, "toy", (), switch_cycles=((a.id, b.id, 300.0), (b.id, a.id, 200.0)))
    hardware = board.transition(a, b)
    time_us, energy_uj = switch_cost(measured, board, a, b)
    assert time_us == pytest.approx(hardware.time_us + 300.0 / a.mhz)
    assert energy_uj == pytest.approx(hardware.energy_uj + board.energy_uj(a, 300.0))
    assert switch_cost(measured, board, a, a) == (0.0, 0.0)
    with pytest.raises(KeyError, match="no switch"):
        switch_cost(measured, board, b, board.candidate_states()[1])
