"""Transition model: the time, energy and ordered steps of switching clock state A -> B.

The order is the safe one every STM32 reference manual prescribes (and the emulator's rule
checker enforces): raise flash wait states before raising the frequency, lower them after
lowering it; change the voltage scale only while running from HSI/HSE (the PLL is off, F7 and
F4: RM0385 5.1.4 / PWR_CR1.VOS); enable over-drive before a frequency that needs it; the PLL must
lock before it is selected. Switching SYSCLK between a running PLL and HSI/HSE, or the AHB
prescaler, takes a few cycles and no relock.
"""

from __future__ import annotations

from dataclasses import dataclass

from .clocktree import ClockState
from .model import BoardData


@dataclass(frozen=True)
class Transition:
    time_us: float
    energy_uj: float
    steps: tuple[str, ...]


def _same_pll(a: ClockState, b: ClockState) -> bool:
    return (a.pll_source, a.pll_m, a.pll_n, a.pll_p) == (b.pll_source, b.pll_m, b.pll_n, b.pll_p)


def transition(board: BoardData, a: ClockState, b: ClockState, run_current_ma) -> Transition:
    """Cost of switching from ``a`` to ``b``; ``run_current_ma(state)`` prices the time spent.

    Time is charged at the run current of the slower of the two states (the switch sequence
    runs from HSI or the slower clock), at the board's VDD.
    """
    if a == b:
        return Transition(0.0, 0.0, ())
    t = board.timing
    steps: list[str] = []
    time_us = 0.0
    cycle_us = 1.0 / (min(a.hz, b.hz) / 1e6)
    if b.wait_states > a.wait_states:
        steps.append(f"raise flash latency to {b.wait_states} WS")
    needs_relock = b.uses_pll and (not a.uses_pll or not _same_pll(a, b))
    scale_change = a.scale != b.scale
    if scale_change or needs_relock:
        if a.uses_pll:
            steps.append("switch SYSCLK to HSI")
            time_us += t["sysclk_switch_cycles"] * cycle_us
        if a.uses_pll and (needs_relock or scale_change):
            steps.append("disable PLL")
    if a.overdrive and not b.overdrive:
        steps.append("disable over-drive")
        time_us += t.get("overdrive_disable_us", 0.0)
    if scale_change:
        steps.append(f"set voltage scale {b.scale} and wait for VOSRDY")
        time_us += t["regulator_settle_us"]
    if b.overdrive and not a.overdrive:
        steps.append("enable over-drive and wait for ODRDY/ODSWRDY")
        time_us += t.get("overdrive_enable_us", 0.0)
    if needs_relock or (b.uses_pll and scale_change):
        steps.append(f"relock PLL {b.pll_source} M={b.pll_m} N={b.pll_n} P={b.pll_p}")
        time_us += board.pll.lock_us
    if b.ahb_prescaler != a.ahb_prescaler:
        steps.append(f"set AHB prescaler /{b.ahb_prescaler}")
        time_us += t["sysclk_switch_cycles"] * cycle_us
    if b.source != a.source or needs_relock or scale_change:
        steps.append(f"switch SYSCLK to {b.source}")
        time_us += t["sysclk_switch_cycles"] * cycle_us
    if b.wait_states < a.wait_states:
        steps.append(f"lower flash latency to {b.wait_states} WS")
    slower = a if a.hz <= b.hz else b
    energy_uj = time_us * run_current_ma(slower) * board.vdd / 1000.0
    return Transition(time_us, energy_uj, tuple(steps))
