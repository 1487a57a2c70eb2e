"""Calibration: the cycle model fitted to (here: synthesised) per-phase measurements."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.errors import ModelFormatError
from tvm_stm32dvfs.sim.calibrate import COLUMNS, calibrate, read_measurements, write_cycle_model
from tvm_stm32dvfs.sim.cycles import load_cycle_model
from tvm_stm32dvfs.sim.emulator import emulate, memory_map
from tvm_stm32dvfs.models.zoo import ZOO

BOARD = tvm_stm32dvfs.boards.load("stm32f746g-disco")


def _truth():
    prior = load_cycle_model("cortex-m7")
    cpi = {name: value * (1.3 if i % 2 else 0.8) for i, (name, value) in enumerate(prior.cpi.items())}
    return replace(prior, cpi=cpi, flash_data_hit_rate=0.6)


def _measured_csv(compiled, path, truth) -> None:
    """What a board with cycle model ``truth`` would print at three clock states."""
    run = emulate(compiled, compiled.sample_inputs(), core=BOARD.core, memory=memory_map(BOARD), count_memory=True, regions=("flash",))
    decoupled = {i for i, layer in enumerate(compiled.layers) if layer.decoupled}
    lines = [",".join(COLUMNS)]
    for state in (BOARD.candidate_states()[i] for i in (0, 4, -1)):
        for (layer, phase), (classes, reads) in sorted(run.phase_counts(decoupled).items()):
            cycles = truth.cycles(classes, reads, state.wait_states)
            lines.append(f"{layer},{phase},{state.hz:.0f},{state.wait_states},{cycles:.3f}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.emulator
def test_calibration_recovers_the_cycle_model_that_produced_the_measurements(int8_model, tmp_path):
    compiled = tvm_stm32dvfs.build(int8_model)
    truth = _truth()
    csv_path = tmp_path / "measured.csv"
    _measured_csv(compiled, csv_path, truth)
    fitted, before, after = calibrate(compiled, BOARD, read_measurements(csv_path))
    assert after < 1e-6 < before
    assert fitted.flash_data_hit_rate == pytest.approx(truth.flash_data_hit_rate, abs=1e-6)
    out = tmp_path / "fitted.toml"
    write_cycle_model(fitted, out, csv_path.name)
    again = load_cycle_model("cortex-m7", out)
    assert again.flash_data_hit_rate == pytest.approx(fitted.flash_data_hit_rate, rel=1e-5)
    for name, value in fitted.cpi.items():
        assert again.cpi[name] == pytest.approx(value, rel=1e-5, abs=1e-9)


def test_bad_measurement_files_name_the_problem(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("layer,cycles\n0,12\n")
    with pytest.raises(ModelFormatError, match="missing column"):
        read_measurements(bad)
    bad.write_text(",".join(COLUMNS) + "\n0,fetch,216e6,7,100\n")
    with pytest.raises(ModelFormatError, match=r"bad.csv:2: .*phase one of"):
        read_measurements(bad)
    bad.write_text(",".join(COLUMNS) + "\n0,plain,fast,7,100\n")
    with pytest.raises(ModelFormatError, match=r"bad.csv:2: bad row"):
        read_measurements(bad)


@pytest.mark.emulator
def test_calibrate_command(tmp_path):
    model = ZOO["kws_dscnn"].int8_path
    mod, params = tvm_stm32dvfs.from_onnx(model)
    compiled = tvm_stm32dvfs.build(mod, params=params, model_name=model.stem)
    csv_path = tmp_path / "measured.csv"
    _measured_csv(compiled, csv_path, _truth())
    out = tmp_path / "m7.toml"
    cmd = [sys.executable, "-m", "tvm_stm32dvfs.cli", "calibrate", str(csv_path), "--model", str(model), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "fitted 0.0%" in proc.stdout and out.is_file()
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(lines[:1] + ["99,access,216000000,7,100"]) + "\n")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "does not exist in this build" in proc.stderr and "Traceback" not in proc.stderr
