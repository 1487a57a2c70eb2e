"""Power model of a clock state: run, sleep and stop current, power at VDD, energy of N cycles.

Fit: the datasheet tables give the current at a few frequencies, each measured at the lowest
scale that frequency allows. Between points the current is interpolated linearly in frequency
(exact at every table point: 0 % error), and extrapolated with the nearest segment's slope. For
a state at another voltage scale than the table's at that frequency, the current is scaled by
Vcore(state) / Vcore(table) — dynamic current C·V·f at a fixed frequency is proportional to the
core voltage — so at equal frequency a lower scale never costs more. (The tables' points above
the oscillator frequencies were measured on the PLL, so its own current is included there.)
"""

from __future__ import annotations

import numpy as np

from .clocktree import ClockState
from .model import BoardData, CurrentTable


def _interpolate(table: CurrentTable, hz: float) -> float:
    """Table current (mA) at ``hz``: piecewise linear, extrapolated along the end segments."""
    f = np.array([p[0] for p in table.points])
    i = np.array([p[1] for p in table.points])
    if hz <= f[0]:
        k = 0
    elif hz >= f[-1]:
        k = len(f) - 2
    else:
        k = int(np.searchsorted(f, hz)) - 1
    slope = (i[k + 1] - i[k]) / (f[k + 1] - f[k])
    return float(i[k] + slope * (hz - f[k]))


def _table_vcore(board: BoardData, table: CurrentTable, hz: float) -> float:
    """Core voltage ST measured at ``hz`` (linear between the neighbouring points' scales)."""
    volts = {s.name: s.vcore for s in board.scales}
    f = [p[0] for p in table.points]
    v = [volts[p[2]] for p in table.points]
    return float(np.interp(hz, f, v))


def current_ma(board: BoardData, table: CurrentTable, state: ClockState) -> float:
    base = _interpolate(table, state.hz)
    volts = {s.name: s.vcore for s in board.scales}
    return max(base, 0.0) * volts[state.scale] / _table_vcore(board, table, state.hz)


def run_current_ma(board: BoardData, state: ClockState) -> float:
    return current_ma(board, board.run_current, state)


def sleep_current_ma(board: BoardData, state: ClockState) -> float:
    return current_ma(board, board.sleep_current, state)


def fit_errors(board: BoardData) -> list[tuple[float, float, float]]:
    """(frequency, table mA, model mA) at every run-table point, at the table's own scale."""
    out = []
    for hz, ma, scale in board.run_current.points:
        state = ClockState(hz=hz, scale=scale, wait_states=0, source="table")
        out.append((hz, ma, run_current_ma(board, state)))
    return out
