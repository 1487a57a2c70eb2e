"""``Board``: a board's data with its clock states, power model and transition model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from . import power
from .clocktree import ClockState, PllTable, dvfs_states, pll_table
from .model import BoardData, Region
from .transitions import Transition, transition


@dataclass(frozen=True)
class MemoryMap:
    """Where the firmware lives: flash, and the one RAM region its data, arena and stack use
    (defaults: STM32F746, RM0385 memory map: 1 MiB flash, 320 KiB SRAM of which the first 64 KiB
    are DTCM). The emulator maps it, the linker script places the firmware in it and the profile
    budgets tiles in what it leaves free."""

    flash_origin: int = 0x08000000
    flash_bytes: int = 1024 * 1024
    ram_origin: int = 0x20000000
    ram_bytes: int = 320 * 1024
    tcm_bytes: int = 64 * 1024  # the start of RAM that is tightly coupled (0: none)

    def regions(self) -> list[tuple[str, int, int]]:
        """(name, first address, last address) of the regions memory accesses are split by."""
        out = [("flash", self.flash_origin, self.flash_origin + self.flash_bytes - 1)]
        if self.tcm_bytes:
            out.append(("tcm", self.ram_origin, self.ram_origin + self.tcm_bytes - 1))
        out.append(("sram", self.ram_origin + self.tcm_bytes, self.ram_origin + self.ram_bytes - 1))
        return out


@dataclass(frozen=True)
class Board:
    data: BoardData

    # ------------------------------------------------------------------ facts
    name = property(lambda self: self.data.name, doc="The board's name, e.g. ``stm32f746g-disco``.")
    mcu = property(lambda self: self.data.mcu, doc="The part number.")
    core = property(lambda self: self.data.core, doc="``cortex-m4`` or ``cortex-m7``.")
    vdd = property(lambda self: self.data.vdd, doc="The supply voltage the power figures are for (V).")

    @property
    def regions(self) -> dict[str, Region]:
        return {r.name: r for r in self.data.memory}

    @property
    def flash_bytes(self) -> int:
        return self.regions["flash"].bytes

    @property
    def sram_bytes(self) -> int:
        """All data SRAM, main SRAM plus DTCM where there is one (what the part has; the firmware
        uses :attr:`memory_map`'s RAM, which leaves out a DTCM apart from the SRAM)."""
        return sum(r.bytes for r in self.data.memory if r.name in ("sram", "dtcm"))

    @cached_property
    def memory_map(self) -> MemoryMap:
        """Flash, and the RAM the firmware uses: DTCM and SRAM together where they are contiguous
        (F7: one region, its first part tightly coupled), else the main SRAM alone (H7: the AXI
        SRAM, which every bus master reaches; its DTCM at 0x20000000 is apart and unused)."""
        flash, sram = self.regions["flash"], self.regions["sram"]
        tcm = self.regions.get("dtcm")
        if tcm is not None and tcm.origin + tcm.bytes == sram.origin:
            return MemoryMap(flash.origin, flash.bytes, tcm.origin, tcm.bytes + sram.bytes, tcm.bytes)
        return MemoryMap(flash.origin, flash.bytes, sram.origin, sram.bytes, 0)

    # ------------------------------------------------------------------ states
    def pll_configurations(self) -> PllTable:
        """Every valid PLL configuration (oscillator, M, N, P) as arrays."""
        return pll_table(self.data)

    @cached_property
    def _states(self) -> tuple[ClockState, ...]:
        return tuple(dvfs_states(self.data))

    @cached_property
    def _state_by_id(self) -> dict[str, ClockState]:
        by_id: dict[str, ClockState] = {}
        for s in self._states:
            by_id.setdefault(s.id, s)
        return by_id

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
        if label in self._state_by_id:
            return self._state_by_id[label]
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

    def dma_transfer_us(self, state: ClockState, items: int) -> float:
        """Time of a DMA transfer of ``items`` items from flash to SRAM at ``state``: per item the
        bus cycles of the board's data and the flash read's wait states, as the CPU pays them
        (no line or prefetch amortisation: an upper bound)."""
        return items * (self.data.dma_bus_cycles_per_item + state.wait_states + 1) / state.mhz

    def dma_power_mw(self, state: ClockState) -> float:
        """The DMA controller's own power while it transfers at ``state``."""
        return self.data.dma_current_ua_per_mhz * state.mhz / 1000.0 * self.vdd

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
