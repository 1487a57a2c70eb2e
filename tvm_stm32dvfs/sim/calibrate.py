"""Calibration: fit the cycle model to cycles measured on a board.

The profiling firmware (and any DWT-based harness) prints one CSV row per layer and phase of an
inference at one clock state::

    layer,phase,hz,wait_states,cycles
    0,plain,216000000,7,10734
    1,access,216000000,7,40211
    1,execute,216000000,7,152977

``phase`` is access, execute or plain, as ``stm32dvfs_phase`` announces it; ``hz`` and
``wait_states`` say the state it ran in; runs at several states go in one file. The same model,
built the same way, is run once in the emulator for its instruction classes and flash reads per
(layer, phase); :func:`~tvm_stm32dvfs.sim.cycles.fit` then solves for the CPIs and the flash
miss cost.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


from ..files import write_text_atomically
from ..errors import ModelFormatError
from .cycles import CycleModel, Measurement, fit, load_cycle_model
from .emulator import emulate, memory_map
from ..vocabulary import PHASES

COLUMNS = ("layer", "phase", "hz", "wait_states", "cycles")


@dataclass(frozen=True)
class MeasuredRow:
    layer: int
    phase: str
    hz: float
    wait_states: int
    cycles: float


def read_measurements(path: Path) -> list[MeasuredRow]:
    """Rows of a profiling CSV; one-line errors name the file, line and problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{path}: cannot read the measurements ({exc})") from None
    return parse_measurements(text, str(path))


def parse_measurements(text: str, where: str) -> list[MeasuredRow]:
    """Rows of a profiling CSV's ``text``; ``where`` names it in the errors."""
    reader = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ModelFormatError(f"{where}: not a profiling CSV, missing column(s) {', '.join(missing)} "
                               f"(expected header: {','.join(COLUMNS)})")
    rows = []
    for number, raw in enumerate(reader, start=2):
        try:
            row = MeasuredRow(int(raw["layer"]), raw["phase"].strip(), float(raw["hz"]), int(raw["wait_states"]),
                              float(raw["cycles"]))
        except (TypeError, ValueError):
            raise ModelFormatError(f"{where}:{number}: bad row {dict(raw)}: layer, wait_states integers; hz, "
                                   "cycles numbers") from None
        if row.phase not in PHASES or row.layer < 0 or row.cycles <= 0 or row.hz <= 0 or row.wait_states < 0:
            raise ModelFormatError(f"{where}:{number}: bad row {dict(raw)}: phase one of {', '.join(PHASES)}, "
                                   "layer >= 0, hz and cycles > 0")
        rows.append(row)
    if not rows:
        raise ModelFormatError(f"{where}: no measurements")
    return rows


def calibrate(compiled, board, rows: list[MeasuredRow], inputs=None) -> tuple[CycleModel, float, float]:
    """(fitted model, worst relative error of the prior model, worst of the fitted one).
    ``inputs``: what the measured inference ran (counts are data-dependent); by default the
    sample input, which the exported firmware and ``stm32dvfs run``'s first inference run."""
    prior = load_cycle_model(board.core)
    x = compiled.sample_inputs() if inputs is None else inputs
    run = emulate(compiled, x, core=board.core, memory=memory_map(board), count_memory=True, regions=("flash",))
    decoupled = {i for i, layer in enumerate(compiled.layers) if layer.decoupled}
    counts = run.phase_counts(decoupled)
    measurements = []
    for row in rows:
        if (row.layer, row.phase) not in counts:
            raise ModelFormatError(f"measured layer {row.layer} phase {row.phase} does not exist in this build of "
                                   f"{compiled.model_name} ({len(compiled.layers)} layers; decoupled: "
                                   f"{sorted(decoupled) or 'none'}): measure the same build")
        classes, reads = counts[(row.layer, row.phase)]
        measurements.append(Measurement(classes, reads, row.wait_states, row.cycles))
    fitted, worst = fit(prior, measurements)
    before = max(abs(prior.cycles(m.classes, m.flash_reads, m.wait_states) - m.cycles) / max(m.cycles, 1.0)
                 for m in measurements)
    return fitted, before, worst


def write_cycle_model(model: CycleModel, path: Path, source: str) -> None:
    """A cycle-model TOML in the format of data/cycle_models.toml, every value citing ``source``."""
    lines = [f"# fitted by stm32dvfs calibrate from {source}", f"[{model.core}]", f'source = "fitted: {source}"',
             f"[{model.core}.cpi]"]
    for name, value in model.cpi.items():
        lines.append(f'{name} = {{ value = {value:.6g}, source = "fitted: {source}" }}')
    lines += [f"[{model.core}.flash]",
              f'line_bytes = {{ value = {model.flash_line_bytes}, source = "prior" }}',
              f'data_hit_rate = {{ value = {model.flash_data_hit_rate:.6g}, source = "fitted: {source}" }}']
    write_text_atomically(path, "\n".join(lines) + "\n")
