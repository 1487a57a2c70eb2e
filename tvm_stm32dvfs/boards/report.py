"""The tables of ``stm32dvfs boards`` and ``stm32dvfs clocks``."""

from __future__ import annotations

from rich.table import Table

from . import known_boards, load
from .board import Board


def boards_table() -> Table:
    table = Table(title="boards")
    for col in ("board", "MCU", "core", "max MHz", "flash KiB", "SRAM KiB", "DVFS states", "candidate states"):
        table.add_column(col, justify="left" if col in ("board", "MCU", "core") else "right")
    for name in known_boards():
        b = load(name)
        table.add_row(name, b.mcu, b.core, f"{b.max_state().mhz:g}", str(b.flash_bytes // 1024),
                      str(b.sram_bytes // 1024), str(len(b.dvfs_states())), str(len(b.candidate_states())))
    return table


def clocks_table(board: Board, all_states: bool = False) -> Table:
    """The board's candidate DVFS states (or every distinct frequency with ``all_states``)."""
    states = board.dvfs_states() if all_states else board.candidate_states()
    title = f"{board.name}: {'all' if all_states else 'candidate'} DVFS states ({len(states)} of {len(board.dvfs_states())})"
    table = Table(title=title)
    for col in ("MHz", "source", "PLL M/N/P", "AHB", "scale", "WS", "run mA", "run mW", "nJ/cycle"):
        table.add_column(col, justify="right" if col not in ("source", "scale") else "left")
    for s in states:
        pll = f"{s.pll_m}/{s.pll_n}/{s.pll_p}" if s.uses_pll else "-"
        source = f"PLL({s.pll_source})" if s.uses_pll else s.source
        table.add_row(f"{s.mhz:g}", source, pll, f"/{s.ahb_prescaler}", s.scale, str(s.wait_states),
                      f"{board.run_current_ma(s):.1f}", f"{board.run_power_mw(s):.1f}",
                      f"{board.energy_per_cycle_nj(s):.3f}")
    return table
