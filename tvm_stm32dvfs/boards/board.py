"""``Board``: a board's data with its clock states, power model and transition model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from . import power
from .clocktree import ClockState, PllTable, dvfs_states, pll_table
from .model import BoardData, Region
from .transitions import Transition, transition


@dataclass(frozen=True)
class Board:
    data: BoardData

    # ------------------------------------------------------------------ facts
    @property
    def name(self) -> str:
        return self.data.name

    @property
    def mcu(self) -> str:
        return self.data.mcu

    @property
    def core(self) -> str:
        return self.data.core

    @property
    def vdd(self) -> float:
        return self.data.vdd

    @property
    def regions(self) -> dict[str, Region]:
        return {r.name: r for r in self.data.memory}

    @property
    def flash_bytes(self) -> int:
        return self.regions["flash"].bytes

    @property
    def sram_bytes(self) -> int:
        """Data SRAM: main SRAM plus DTCM where there is one."""
        return sum(r.bytes for r in self.data.memory if r.name in ("sram", "dtcm"))

    # ------------------------------------------------------------------ states
    def pll_configurations(self) -> PllTable:
        """Every valid PLL configuration (oscillator, M, N, P) as arrays."""
        return pll_table(self.data)

    @cached_property
    def _states(self) -> tuple[ClockState, ...]:
        return tuple(dvfs_states(self.data))

    def dvfs_states(self) -> list[ClockState]:
        """Distinct DVFS states: per frequency the cheapest configuration, slowest first."""
        return list(self._states)

    @cached_property
    def _candidates(self) -> tuple[ClockState, ...]:
        bands: dict[tuple, ClockState] = {}
        for state in self._states:  # slowest first: the last one seen in a band is its fastest
            bands[(state.scale, state.wait_states, state.uses_pll)] = state
        return tuple(sorted(bands.values(), key=lambda s: s.hz))

    def candidate_states(self) -> list[ClockState]:
        """The states worth planning with: the fastest of each (voltage scale, flash wait states,
        PLL or not) band. Within a band a faster state is never slower and never costs more
        energy per cycle (run current is affine in frequency with a positive intercept), while
        different bands trade speed, flash stalls, voltage and PLL relocks against each other."""
        return list(self._candidates)

    def stop_wakeup_state(self) -> ClockState:
        """The state the MCU runs in after waking from Stop: HSI, undivided (the F4/F7/H7 wake-up
        clock; on L4 STOPWUCK selects HSI over MSI, which the runtime sets)."""
        for s in self._states:
            if s.source == "HSI" and s.ahb_prescaler == 1:
                return s
        from ..errors import BoardDataError

        raise BoardDataError(f"board {self.name} has no HSI state to wake from Stop in")

    def max_state(self) -> ClockState:
        return self._states[-1]

    def state(self, label: str) -> ClockState:
        for s in self._states:
            if s.id == label:
                return s
        from ..errors import BoardDataError

        raise BoardDataError(f"board {self.name} has no DVFS state '{label}'")

    # ------------------------------------------------------------------ power
    def run_current_ma(self, state: ClockState) -> float:
        return power.run_current_ma(self.data, state)

    def sleep_current_ma(self, state: ClockState) -> float:
        return power.sleep_current_ma(self.data, state)

    def run_power_mw(self, state: ClockState) -> float:
        return self.run_current_ma(state) * self.vdd

    def sleep_power_mw(self, state: ClockState) -> float:
        return self.sleep_current_ma(state) * self.vdd

    def stop_power_mw(self) -> float:
        return self.data.stop_current_ma * self.vdd

    def energy_per_cycle_nj(self, state: ClockState) -> float:
        return self.run_power_mw(state) / (state.hz / 1e6)  # mW / MHz = nJ per cycle

    def energy_uj(self, state: ClockState, cycles: float) -> float:
        """Energy of ``cycles`` CPU cycles run in ``state`` (uJ)."""
        return self.energy_per_cycle_nj(state) * cycles / 1000.0

    def wakeup_us(self, mode: str, state: ClockState | None = None) -> float:
        """Wake-up time from ``sleep`` (cycles of ``state``) or ``stop``."""
        if mode == "stop":
            return self.data.stop_wakeup_us
        if mode == "sleep":
            hz = (state or self.max_state()).hz
            return self.data.sleep_wakeup_cycles / (hz / 1e6)
        raise ValueError(f"unknown idle mode {mode!r} (sleep or stop)")

    # ------------------------------------------------------------------ switching
    def transition(self, a: ClockState, b: ClockState) -> Transition:
        return transition(self.data, a, b, self.run_current_ma)
