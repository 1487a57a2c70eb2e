"""On a real board: run with STM32DVFS_BOARD_PORT set to its serial port (the ST-LINK virtual COM
port, e.g. /dev/ttyACM0), STM32DVFS_BOARD to its name (default stm32f746g-disco) and, if
needed, STM32DVFS_PROBE (openocd, pyocd or st-flash). Skipped when no port is set: the same loop
runs on QEMU in test_run.py."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.models.zoo import ZOO
from tvm_stm32dvfs.sim.calibrate import calibrate

PORT = os.environ.get("STM32DVFS_BOARD_PORT")
BOARD = os.environ.get("STM32DVFS_BOARD", "stm32f746g-disco")
PROBE = os.environ.get("STM32DVFS_PROBE")

pytestmark = [pytest.mark.board,
              pytest.mark.skipif(PORT is None, reason="no board attached: set STM32DVFS_BOARD_PORT to its serial port")]


@pytest.fixture(scope="module")
def board():
    return tvm_stm32dvfs.boards.load(BOARD)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_bundled_int8_model_on_the_board_equals_the_host(name, board):
    mod, params = tvm_stm32dvfs.from_onnx(ZOO[name].int8_path)
    compiled = tvm_stm32dvfs.build(mod, target=f"stm32dvfs-{board.name}", params=params, model_name=name)
    try:
        run = tvm_stm32dvfs.run_on_board(compiled, [compiled.sample_inputs(seed=i) for i in range(3)], port=PORT,
                                         probe=PROBE)
    except tvm_stm32dvfs.errors.ResourceLimitError as exc:
        pytest.skip(f"{name} does not fit {board.name}: {exc}")
    assert run.platform == "board" and run.probe is not None
    assert run.status == [0, 0, 0] and all(run.matches_host)


def test_a_planned_model_switches_clocks_profiles_and_calibrates(board, tmp_path):
    """The whole loop on the board: a plan, its clock switches, the DWT cycles at the plan's
    states, the CSV accepted by calibrate, and a re-plan with the fitted model."""
    mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].int8_path)
    planned = tvm_stm32dvfs.build(mod, target=f"stm32dvfs-{board.name}", params=params, model_name="kws",
                                  latency_ms=80)
    run = tvm_stm32dvfs.run_on_board(planned, [planned.sample_inputs(seed=i) for i in range(2)], port=PORT,
                                     probe=PROBE, profile=True)
    assert run.ok and run.clock_switches[0] >= 1
    rows = run.measurements(0)
    run.write_csv(tmp_path / "kws.csv")
    states = {(round(s.hz), s.wait_states) for s in board.candidate_states()}
    assert {(round(r.hz), r.wait_states) for r in rows} <= states
    from tvm_stm32dvfs.sim.calibrate import write_cycle_model

    fitted, before, after = calibrate(planned, board, rows)
    assert after <= before
    write_cycle_model(fitted, tmp_path / "fitted.toml", "the board test")
    replanned = tvm_stm32dvfs.build(mod, target=f"stm32dvfs-{board.name}", params=params, model_name="kws",
                                    latency_ms=80, cycle_model=tmp_path / "fitted.toml")
    assert replanned.plan.predicted_latency_ms <= 80
    x = planned.sample_inputs(seed=5)
    again = tvm_stm32dvfs.run_on_board(replanned, [x], port=PORT, probe=PROBE)
    assert again.ok
    np.testing.assert_array_equal(again.outputs[0][0], np.asarray(planned.run_host(x)))
