"""Cycle model: data with sources, monotone in wait states, and a calibration that recovers a model."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from tvm_stm32dvfs.errors import BoardDataError
from tvm_stm32dvfs.sim.cycles import DATA_FILE, Measurement, fit, load_cycle_model
from tvm_stm32dvfs.sim.emulator import INSTRUCTION_CLASSES


@pytest.mark.parametrize("core", ["cortex-m4", "cortex-m7"])
def test_every_coefficient_has_a_source(core):
    entry = tomllib.loads(DATA_FILE.read_text())[core]
    for group in ("cpi", "flash"):
        for name, value in entry[group].items():
            assert value.get("source"), f"{core}.{group}.{name} has no source"
    model = load_cycle_model(core)
    assert set(model.cpi) == set(INSTRUCTION_CLASSES)


def test_unknown_core_is_a_clear_error():
    with pytest.raises(BoardDataError, match="no cycle model for core 'cortex-m0'"):
        load_cycle_model("cortex-m0")


def test_flash_reads_cost_more_at_more_wait_states():
    model = load_cycle_model("cortex-m7")
    classes = {"load": 100, "mac": 200, "other": 50}
    costs = [model.cycles(classes, 1000, ws) for ws in range(8)]
    assert all(b > a for a, b in zip(costs, costs[1:]))
    assert model.cycles(classes, 0, 7) == model.cycles(classes, 0, 0)


def test_calibration_recovers_a_known_model():
    truth = load_cycle_model("cortex-m4")
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(40):
        classes = {c: int(rng.integers(0, 5000)) for c in INSTRUCTION_CLASSES}
        reads, ws = int(rng.integers(0, 3000)), int(rng.integers(0, 8))
        rows.append(Measurement(classes, reads, ws, truth.cycles(classes, reads, ws)))
    fitted, worst = fit(load_cycle_model("cortex-m7"), rows)
    assert worst < 1e-6
    for c in INSTRUCTION_CLASSES:
        assert fitted.cpi[c] == pytest.approx(truth.cpi[c], rel=1e-6)
    assert fitted.flash_data_hit_rate == pytest.approx(truth.flash_data_hit_rate, rel=1e-6)
