"""Boards: cited data, valid clock states, power fit, transitions, bad board files."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_stm32dvfs import boards
from tvm_stm32dvfs.boards.clocktree import lowest_scale, wait_states
from tvm_stm32dvfs.boards.model import DATA_DIR
from tvm_stm32dvfs.boards.power import fit_errors
from tvm_stm32dvfs.errors import BoardDataError

NAMES = boards.known_boards()


def test_the_five_boards_are_bundled():
    assert NAMES == sorted(["stm32f746g-disco", "nucleo-f767zi", "nucleo-h743zi2", "nucleo-l4r5zi", "nucleo-f411re"])
    assert boards.DEFAULT_BOARD == "stm32f746g-disco"
    assert {boards.load(n).core for n in NAMES} == {"cortex-m4", "cortex-m7"}


def _numbers(node, path=""):
    """Every cited leaf of a board file: (dotted path, table)."""
    if isinstance(node, dict):
        if "source" in node:
            yield path, node
        else:
            for k, v in node.items():
                yield from _numbers(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numbers(v, f"{path}[{i}]")


@pytest.mark.parametrize("name", NAMES)
def test_every_number_cites_a_source(name):
    data = tomllib.loads((DATA_DIR / f"{name}.toml").read_text())
    cited = list(_numbers(data))
    assert len(cited) > 20
    for path, entry in cited:
        assert entry["source"].strip(), path
        if entry.get("estimate"):
            assert "estimate" in entry["source"].lower(), f"{path}: say how the estimate was derived"


@pytest.mark.parametrize("name", NAMES)
def test_states_respect_the_board_limits(name):
    board = boards.load(name)
    data = board.data
    states = board.dvfs_states()
    assert states and states == sorted(states, key=lambda s: s.hz)
    assert len({s.hz for s in states}) == len(states), "one state per frequency"
    scales = {s.name: s for s in data.scales}
    for s in states:
        scale = scales[s.scale]
        assert s.hz <= scale.max_hz + 1e-3, s
        assert s.wait_states >= wait_states(scale, s.hz), s
        assert lowest_scale(data, s.hz).name == s.scale, "the lowest voltage that allows the frequency"
        if s.uses_pll:
            ref = s.oscillator_hz / s.pll_m
            vco = ref * s.pll_n
            assert data.pll.input_min_hz - 1e-3 <= ref <= data.pll.input_max_hz + 1e-3
            assert data.pll.vco_min_hz - 1e-3 <= vco <= data.pll.vco_max_hz + 1e-3
            assert s.pll_p in data.pll.p and data.pll.m[0] <= s.pll_m <= data.pll.m[1]
            assert abs(vco / s.pll_p / s.ahb_prescaler - s.hz) < 1.0
    assert board.max_state().hz == max(sc.max_hz for sc in data.scales)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(NAMES), st.data())
def test_every_pll_configuration_is_within_limits(name, draw):
    board = boards.load(name)
    table = board.pll_configurations()
    i = draw.draw(st.integers(0, len(table) - 1))
    limits = board.data.pll
    ref = table.oscillator_hz[i] / table.m[i]
    assert limits.input_min_hz - 1e-3 <= ref <= limits.input_max_hz + 1e-3
    assert limits.vco_min_hz - 1e-3 <= table.vco_hz[i] <= limits.vco_max_hz + 1e-3
    assert limits.m[0] <= table.m[i] <= limits.m[1] and limits.n[0] <= table.n[i] <= limits.n[1]
    assert table.p[i] in limits.p and table.hz[i] == pytest.approx(table.vco_hz[i] / table.p[i])


def test_the_disco_board_runs_at_216_mhz_from_its_25_mhz_crystal():
    board = boards.load("stm32f746g-disco")
    table = board.pll_configurations()
    found = (table.source == "HSE") & (table.m == 25) & (table.n == 432) & (table.p == 2)
    assert found.any() and np.allclose(table.hz[found], 216e6)
    top = board.max_state()
    assert (top.hz, top.pll_source, top.pll_m, top.pll_n, top.pll_p) == (216e6, "HSE", 25, 432, 2)
    assert (top.scale, top.overdrive, top.wait_states) == ("S1OD", True, 7)


def test_spot_check_against_the_cited_table():
    board = boards.load("stm32f746g-disco")
    assert board.run_current_ma(board.max_state()) == pytest.approx(90.0)  # DocID029808 Table 26
    f411 = boards.load("nucleo-f411re")
    assert f411.run_current_ma(f411.max_state()) == pytest.approx(11.6)  # DS10314 Table 23


@pytest.mark.parametrize("name", NAMES)
def test_power_fit_within_5_percent_of_every_table_point(name):
    for hz, table_ma, model_ma in fit_errors(boards.load(name).data):
        assert abs(model_ma - table_ma) <= 0.05 * table_ma, (hz, table_ma, model_ma)


@pytest.mark.parametrize("name", NAMES)
def test_lower_scale_never_costs_more_per_cycle(name):
    board = boards.load(name)
    from dataclasses import replace

    for state in board.dvfs_states():
        energies = []
        for scale in board.data.scales:
            if state.hz <= scale.max_hz:
                energies.append(board.energy_per_cycle_nj(replace(state, scale=scale.name)))
        assert energies == sorted(energies), state


def test_transitions_follow_the_safe_order():
    board = boards.load("stm32f746g-disco")
    slow = next(s for s in board.dvfs_states() if s.hz == 60e6)
    fast = board.max_state()
    up = board.transition(slow, fast)
    assert up.steps.index("raise flash latency to 7 WS") < up.steps.index("switch SYSCLK to PLL")
    assert any("relock PLL" in s for s in up.steps) and up.time_us >= board.data.pll.lock_us
    assert up.steps.index("set voltage scale S1OD and wait for VOSRDY") < up.steps.index(
        "enable over-drive and wait for ODRDY/ODSWRDY")
    down = board.transition(fast, slow)
    assert down.steps[-1] == "lower flash latency to 1 WS"
    assert down.steps.index("switch SYSCLK to HSI") < down.steps.index("set voltage scale S3 and wait for VOSRDY")
    assert board.transition(fast, fast).time_us == 0.0 and up.energy_uj > 0


def test_idle_figures():
    board = boards.load("stm32f746g-disco")
    assert board.wakeup_us("stop") == pytest.approx(14.0)
    assert board.stop_power_mw() < board.sleep_power_mw(board.max_state()) < board.run_power_mw(board.max_state())


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "myboard.toml"
    path.write_text(text)
    return path


def test_own_board_file_loads(tmp_path):
    src = (DATA_DIR / "nucleo-f411re.toml").read_text().replace('name = "nucleo-f411re"', 'name = "myboard"')
    board = boards.load(_write(tmp_path, src))
    assert board.name == "myboard" and board.dvfs_states()


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace('core = "cortex-m4"', 'core = "cortex-m99"'), r"field 'core' must be one of"),
    (lambda s: s.replace('hsi_hz = { value = 16e6, source = "DS10314 Rev 8, section 3.16: 16 MHz internal RC" }',
                         'hsi_hz = { value = 16e6 }'), r"field 'oscillators.hsi_hz' has no source"),
    (lambda s: s.replace("[[run_current]]\npoints = [[100e6, 11.6", "[[run_current]]\npoints = [[100e6, -1.0"),
     r"field 'run_current.points\[0\]'"),
    (lambda s: s.replace("name = \"S1\"\nmax_hz = { value = 100e6", "name = \"S1\"\nmax_hz = { value = 150e6"),
     r"above its last wait-state bound"),
    (lambda s: s + "\n[[[broken", r"not valid TOML"),
    (lambda s: s.replace('peripheral = { value = "USART2"', 'peripheral = { value = "UART7"'),
     r"field 'console.peripheral' 'UART7' is not a console the runtime drives on F4"),
    (lambda s: s.replace('tx = { port = "A", pin = 2, af = 7', 'tx = { port = "A", pin = 22, af = 7'),
     r"field 'console.tx' pin must be 0..15"),
    (lambda s: s.replace('pin = { port = "A", pin = 10', 'pin = { port = "Z", pin = 10'),
     r"field 'marker.pin' port must be a letter"),
])
def test_bad_board_files_name_the_file_and_field(tmp_path, edit, message):
    src = (DATA_DIR / "nucleo-f411re.toml").read_text()
    bad = edit(src)
    assert bad != src
    with pytest.raises(BoardDataError, match=message) as info:
        boards.load(_write(tmp_path, bad))
    assert str(info.value).startswith("myboard.toml")


def test_unknown_board_lists_the_known():
    with pytest.raises(BoardDataError, match="known boards: .*stm32f746g-disco"):
        boards.load("arduino-uno")


@pytest.mark.parametrize("name", boards.known_boards())
def test_one_memory_map_serves_the_emulator_the_linker_script_and_the_tile_budget(name, tmp_path):
    """The RAM the firmware uses is one region of the board file: DTCM + SRAM where they are
    contiguous, else the main SRAM alone (the H743's DTCM at 0x20000000 is apart from its AXI
    SRAM, so it is counted nowhere, not even by the profile's tile budget)."""
    import re

    from tvm_stm32dvfs.codegen import CSources
    from tvm_stm32dvfs.project.firmware import project_files
    from tvm_stm32dvfs.sim.emulator import memory_map

    board = boards.load(name)
    ram = board.memory_map
    sram, tcm = board.regions["sram"], board.regions.get("dtcm")
    if tcm is not None and tcm.origin + tcm.bytes == sram.origin:
        assert (ram.ram_origin, ram.ram_bytes, ram.tcm_bytes) == (tcm.origin, tcm.bytes + sram.bytes, tcm.bytes)
    else:
        assert (ram.ram_origin, ram.ram_bytes, ram.tcm_bytes) == (sram.origin, sram.bytes, 0)
    assert memory_map(board) == ram
    files = project_files(CSources({}), board, "m", [np.zeros(4, np.int8)], [4], 1, 64, 0)
    ld = next(text for path, text in files.items() if path.endswith(".ld"))
    origin, length = re.search(r"RAM \(rwx\)\s*: ORIGIN = (0x[0-9a-f]+), LENGTH = (\d+)", ld).groups()
    assert (int(origin, 16), int(length)) == (ram.ram_origin, ram.ram_bytes)
    if name == "nucleo-h743zi2":
        assert ram.ram_bytes == sram.bytes < board.sram_bytes  # the DTCM is not the firmware's


def test_the_profile_budgets_tiles_in_the_memory_maps_ram(monkeypatch):
    """The tile budget of the profile is what the mapped RAM leaves free (on the H743 that is the
    AXI SRAM alone), not every SRAM the part has."""
    import tvm_stm32dvfs.profile as profile_module

    board = boards.load("nucleo-h743zi2")

    class Budget(Exception):
        pass

    def options(compiled, max_granularities, budget, dma=""):
        raise Budget(budget)

    class Compiled:
        arena_bytes = 1000

        def variant(self, dae=True, granularity=None):
            return self

        def sample_inputs(self):
            return []

    monkeypatch.setattr(profile_module, "tile_maps", options)
    monkeypatch.setattr(profile_module, "cache_key", lambda *a, **k: "none")
    with pytest.raises(Budget) as budget:
        profile_module.profile(Compiled(), board, use_cache=False)
    free = board.memory_map.ram_bytes - 1000 - profile_module.STACK_BYTES - profile_module.RUNTIME_DATA_BYTES
    assert budget.value.args[0] == max(free // 2, profile_module.dae.DEFAULT_TILE_BUDGET)
    assert board.memory_map.ram_bytes < board.sram_bytes
