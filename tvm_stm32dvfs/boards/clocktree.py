"""Clock-tree explorer: every valid SYSCLK/HCLK configuration of a board, reduced to DVFS states.

Describe (the board data) -> compute (these pure functions) -> freeze (``ClockState``), in the
manner of stm32f7xx-hal's ``calculate_clocks``: nothing here touches hardware or global state.
A configuration is a source (HSI, HSE, MSI directly, or the PLL fed by HSI/HSE/MSI with M/N/P
inside the input and VCO ranges), an AHB prescaler, the lowest voltage scale (+ over-drive)
that allows the resulting HCLK, and the fewest flash wait states that scale's table allows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import BoardData, Scale


@dataclass(frozen=True, order=True)
class ClockState:
    """One DVFS state: what the firmware programs and what it costs to run in."""

    hz: float
    scale: str
    wait_states: int
    source: str  # HSI, HSE, MSI or PLL
    pll_source: str | None = None  # HSI, HSE or MSI when source is PLL
    pll_m: int | None = None
    pll_n: int | None = None
    pll_p: int | None = None
    ahb_prescaler: int = 1
    overdrive: bool = False
    oscillator_hz: float = 0.0  # the frequency of the oscillator that feeds SYSCLK or the PLL

    @property
    def mhz(self) -> float:
        return self.hz / 1e6

    @property
    def id(self) -> str:
        """A stable short label, e.g. ``216MHz-PLL-S1OD-7WS``."""
        f = f"{self.mhz:g}MHz"
        src = self.source if self.source != "PLL" else f"PLL{self.pll_source}"
        return f"{f}-{src}-{self.scale}-{self.wait_states}WS" + (f"-AHB{self.ahb_prescaler}" if self.ahb_prescaler > 1 else "")

    @property
    def uses_pll(self) -> bool:
        return self.source == "PLL"


def wait_states(scale: Scale, hz: float) -> int | None:
    """The fewest flash wait states at ``hz`` in ``scale`` (None: above the table)."""
    for ws, bound in enumerate(scale.wait_state_bounds):
        if hz <= bound + 1e-3:
            return ws
    return None


def lowest_scale(board: BoardData, hz: float) -> Scale | None:
    for scale in board.scales:  # ordered from the lowest voltage up
        if hz <= scale.max_hz + 1e-3:
            return scale
    return None


def _oscillators(board: BoardData) -> list[tuple[str, float]]:
    out = [("HSI", board.hsi_hz)]
    if board.hse_hz:
        out.append(("HSE", board.hse_hz))
    out += [("MSI", f) for f in board.msi_hz]
    return out


@dataclass(frozen=True)
class PllTable:
    """Every PLL configuration within the limits, as parallel arrays (one row per configuration)."""

    source: np.ndarray  # oscillator name
    oscillator_hz: np.ndarray
    m: np.ndarray
    n: np.ndarray
    p: np.ndarray
    vco_hz: np.ndarray
    hz: np.ndarray

    def __len__(self) -> int:
        return len(self.hz)


def pll_table(board: BoardData) -> PllTable:
    """Vectorised enumeration of (oscillator, M, N, P) with the input and VCO ranges respected."""
    limits = board.pll
    rows = []
    ms = np.arange(limits.m[0], limits.m[1] + 1)
    ns = np.arange(limits.n[0], limits.n[1] + 1)
    ps = np.array(limits.p)
    for name, osc in _oscillators(board):
        if name == "MSI" and osc not in (4e6, 8e6, 16e6, 48e6):
            continue  # PLL input from MSI: its usual ranges only
        ref = osc / ms
        ok_m = ms[(ref >= limits.input_min_hz - 1e-3) & (ref <= limits.input_max_hz + 1e-3)]
        if not len(ok_m):
            continue
        mm, nn = np.meshgrid(ok_m, ns, indexing="ij")
        vco = osc / mm * nn
        ok = (vco >= limits.vco_min_hz - 1e-3) & (vco <= limits.vco_max_hz + 1e-3)
        mm, nn, vco = mm[ok], nn[ok], vco[ok]
        for p in ps:
            rows.append((np.full(len(mm), name), np.full(len(mm), osc), mm, nn, np.full(len(mm), p), vco, vco / p))
    if not rows:
        empty = np.array([])
        return PllTable(empty, empty, empty, empty, empty, empty, empty)
    cols = [np.concatenate(c) for c in zip(*rows)]
    return PllTable(*cols)


def _state_at(board: BoardData, hz: float, **fields) -> ClockState | None:
    scale = lowest_scale(board, hz)
    if scale is None:
        return None
    ws = wait_states(scale, hz)
    if ws is None:
        return None
    return ClockState(hz=float(hz), scale=scale.name, wait_states=ws, overdrive=scale.overdrive, **fields)


def dvfs_states(board: BoardData) -> list[ClockState]:
    """Per distinct HCLK frequency the cheapest configuration, slowest first.

    The run current depends only on the frequency and the scale, and the scale is the lowest
    that allows the frequency, so configurations of one frequency differ only in what the
    tie-break prefers: an oscillator directly over the PLL (whose own current and lock time it
    avoids), no AHB prescaler, the HSE crystal over the RC oscillators, then the slowest VCO
    (least PLL current). AHB prescalers apply
    to the oscillators only: below them a prescaler is the only way down, above them a slower
    PLL output always exists. PLL outputs are kept on a 1 MHz grid: the other frequencies exist,
    but a state 0.5 MHz away adds nothing the optimizer could use.
    """
    best: dict[float, tuple[tuple, ClockState]] = {}

    def offer(key: tuple, state: ClockState | None) -> None:
        if state is None:
            return
        hz = round(state.hz, 3)
        if hz not in best or key < best[hz][0]:
            best[hz] = (key, state)

    for name, osc in _oscillators(board):
        for div in board.ahb_prescalers:
            offer((0, div, 0.0, name), _state_at(board, osc / div, source=name, oscillator_hz=osc, ahb_prescaler=div))
    table = pll_table(board)
    # within a frequency: the crystal (HSE: accurate, unlike the +-1 % HSI) first, then the slowest VCO
    source_rank = np.select([table.source == "HSE", table.source == "HSI"], [0, 1], 2) if len(table) else table.m
    order = np.lexsort((table.m, table.vco_hz, source_rank, np.round(table.hz, 3)))
    mhz = table.hz[order] / 1e6
    order = order[np.abs(mhz - np.round(mhz)) < 1e-9]
    # sorted by VCO within a frequency: the first row of each frequency is the cheapest
    _, first = np.unique(np.round(table.hz[order], 3), return_index=True)
    for i in order[first]:
        offer((1, 1, float(table.vco_hz[i]), str(table.source[i])),
              _state_at(board, float(table.hz[i]), source="PLL", pll_source=str(table.source[i]),
                        pll_m=int(table.m[i]), pll_n=int(table.n[i]), pll_p=int(table.p[i]),
                        oscillator_hz=float(table.oscillator_hz[i])))
    return sorted((state for _, state in best.values()), key=lambda s: s.hz)


# ----------------------------------------------------------------------------- the runtime's view
#: stm32dvfs_clock_source of runtime/include/stm32dvfs_plan.h
_C_SOURCES = {"HSI": 0, "HSE": 1, "MSI": 2, "PLL": 3}
#: the voltage-scale register field value of each scale name (F4/F7 PWR_CR(1).VOS, H7
#: PWR_D3CR.VOS, L4 PWR_CR1.VOS); over-drive/boost is the separate ``overdrive`` flag
_VOS_CODES = {"S3": 1, "S2": 2, "S1": 3, "VOS3": 1, "VOS2": 2, "VOS1": 3, "VOS0": 3, "R1": 1, "R2": 2}


def vos_code(scale_name: str) -> int:
    base = scale_name[:-2] if scale_name.endswith("OD") else scale_name
    base = base[:-1] if base.startswith("R") and base.endswith("B") else base
    return _VOS_CODES[base]


def c_initializer(s: ClockState) -> str:
    """``s`` as the C initializer of a ``stm32dvfs_clock_state`` (runtime/include/stm32dvfs_plan.h),
    what the board's clock driver reads: the plan table (codegen) and the switch probe (sim)."""
    fields = (f"{int(round(s.hz))}u", _C_SOURCES[s.source], _C_SOURCES.get(s.pll_source or "HSI", 0),
              f"{s.pll_m or 0}u", f"{s.pll_n or 0}u", f"{s.pll_p or 0}u", f"{s.ahb_prescaler}u",
              f"{vos_code(s.scale)}u", f"{int(bool(s.overdrive))}u", f"{s.wait_states}u",
              f"{int(round(s.oscillator_hz))}u")
    return "{ " + ", ".join(str(f) for f in fields) + " }"
