"""Cycle model: cycles of a phase at a clock state from its emulated counts.

    cycles = sum over instruction classes (count x CPI)
           + flash data reads x (1 - data hit rate) x (flash wait states + 1)

The CPIs and hit rates are data (``data/cycle_models.toml``), each with a source or marked as an
estimate; :func:`fit` replaces them with least-squares values from cycles measured on a board
(the DWT CSV of the firmware's profiling build). Instruction fetches are assumed to hit the
instruction cache / ART (kernels are small loops), so only data reads from flash pay wait
states: that is what makes an access phase memory-bound and its time not shrink with frequency.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import BoardDataError
from .emulator import INSTRUCTION_CLASSES

DATA_FILE = Path(__file__).resolve().parent / "data" / "cycle_models.toml"


@dataclass(frozen=True)
class CycleModel:
    core: str
    cpi: Mapping[str, float]
    flash_line_bytes: int
    flash_data_hit_rate: float

    def cycles(self, classes: Mapping[str, int], flash_reads: int, wait_states: int) -> float:
        """Cycles of a phase with these instruction-class counts and flash data reads."""
        compute = sum(self.cpi[c] * classes.get(c, 0) for c in INSTRUCTION_CLASSES)
        stalls = flash_reads * (1.0 - self.flash_data_hit_rate) * (wait_states + 1)
        return compute + stalls

    def charge(self, classes: Mapping[str, int], flash_reads: int, state, board) -> "PhaseCharge":
        """What a phase costs at ``state`` of ``board``: its cycles at the state's wait states,
        their time at its clock and their energy at the board's run power there (the one charge
        the profile, the evaluation and the access-phase figures all make)."""
        cycles = self.cycles(classes, flash_reads, state.wait_states)
        return PhaseCharge(cycles, cycles / state.mhz, board.energy_uj(state, cycles))


@dataclass(frozen=True)
class PhaseCharge:
    cycles: float
    time_us: float
    energy_uj: float


@lru_cache(maxsize=None)
def load_cycle_model(core: str, path: Path | None = None) -> CycleModel:
    """The cycle model of ``core`` from the bundled data, or from ``path`` (a calibrated file
    written by ``stm32dvfs calibrate``)."""
    source = DATA_FILE if path is None else Path(path)
    try:
        data = tomllib.loads(source.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BoardDataError(f"{source}: not a readable cycle-model file ({exc})") from None
    if core not in data:
        raise BoardDataError(f"{source.name}: no cycle model for core '{core}' (known: {', '.join(data)})")
    entry = data[core]
    try:
        cpi = {c: float(entry["cpi"][c]["value"]) for c in INSTRUCTION_CLASSES}
        return CycleModel(core, cpi, int(entry["flash"]["line_bytes"]["value"]),
                          float(entry["flash"]["data_hit_rate"]["value"]))
    except KeyError as exc:
        raise BoardDataError(f"{source.name}: core '{core}' lacks field {exc}") from None


@dataclass(frozen=True)
class Measurement:
    """Cycles measured for one phase (a row of the profiling CSV), with its emulated counts."""

    classes: Mapping[str, int]
    flash_reads: int
    wait_states: int
    cycles: float


def fit(model: CycleModel, measurements: Sequence[Measurement]) -> tuple[CycleModel, float]:
    """Least-squares CPIs and flash miss cost from measured cycles; returns the model and the
    largest relative error over the measurements. CPIs stay non-negative (classes that never
    occur keep their prior value)."""
    if not measurements:
        raise BoardDataError("calibration needs at least one measured phase")
    used = [c for c in INSTRUCTION_CLASSES if any(m.classes.get(c, 0) for m in measurements)]
    a = np.array([[m.classes.get(c, 0) for c in used] + [m.flash_reads * (m.wait_states + 1)]
                  for m in measurements], dtype=np.float64)
    b = np.array([m.cycles for m in measurements], dtype=np.float64)
    coeffs, *_ = np.linalg.lstsq(a, b, rcond=None)
    coeffs = np.maximum(coeffs, 0.0)
    cpi = dict(model.cpi)
    cpi.update({c: float(v) for c, v in zip(used, coeffs[:-1])})
    miss = min(1.0, float(coeffs[-1]))
    fitted = replace(model, cpi=cpi, flash_data_hit_rate=1.0 - miss)
    predicted = np.array([fitted.cycles(m.classes, m.flash_reads, m.wait_states) for m in measurements])
    worst = float(np.max(np.abs(predicted - b) / np.maximum(b, 1.0)))
    return fitted, worst
