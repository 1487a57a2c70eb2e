"""Clock-register tracking in the emulator, and the switching-rule checker.

The emulator maps the RCC, PWR and FLASH registers of the board's family and runs the firmware's
own clock driver against this model: reads see the ready/status bits a real chip would show
once a clock is stable (the model has no delays: it checks order, not timing), every write is
checked against the board's rules at once, and the clock state the registers select is known
at every moment, so counted instructions can be attributed to it.

Rules (a violation would hang or brown out a board, so it raises :class:`ClockRuleError`):
HCLK never above what the flash wait states allow, nor above the voltage scale's (and
over-drive's) limit; the PLL is configured only while off and selected only once on (and within
its input and VCO ranges); the voltage scale changes only with the PLL off
(F4, F7); over-drive switching only after over-drive is ready. Families: F4 and F7 (RM0383, RM0385).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..boards import Board
from ..errors import Stm32DvfsError

F4F7_RCC = 0x40023800
F4F7_PWR = 0x40007000
F4F7_FLASH = 0x40023C00
#: 4 KiB pages to map for the registers of each family
PAGES = {"F4": (0x40007000, 0x40023000), "F7": (0x40007000, 0x40023000)}

HPRE = {0: 1, 8: 2, 9: 4, 10: 8, 11: 16, 12: 64, 13: 128, 14: 256, 15: 512}
VOS_NAMES = {1: "S3", 2: "S2", 3: "S1"}


class ClockRuleError(Stm32DvfsError):
    """The firmware's clock sequence breaks a rule of the board (a bug in the generated code)."""


@dataclass(frozen=True)
class ClockSnapshot:
    """The clock state the registers select: what every counted instruction runs at."""

    hz: float
    source: str
    wait_states: int
    scale: str
    overdrive: bool


class F4F7ClockModel:
    """RCC/PWR/FLASH of an STM32F4/F7 as seen by its clock driver."""

    def __init__(self, board: Board):
        if board.data.family not in ("F4", "F7"):
            raise Stm32DvfsError(f"no clock-register model for the {board.data.family} family yet (F4, F7)")
        self.board = board
        self.family = board.data.family
        # reset values: RM0385 / RM0383 register descriptions
        self.regs = {
            F4F7_RCC + 0x00: 0x0000_0083,  # HSION, HSIRDY
            F4F7_RCC + 0x04: 0x2400_3010,
            F4F7_RCC + 0x08: 0x0000_0000,
            F4F7_RCC + 0x40: 0x0000_0000,
            F4F7_PWR + 0x00: 0x0000_C000 if self.family == "F7" else 0x0000_8000,
            F4F7_PWR + 0x04: 0x0000_0000,
            F4F7_FLASH + 0x00: 0x0000_0000,
        }
        self.writes: list[tuple[int, int]] = []
        self.snapshot = self._snapshot()

    # ---------------------------------------------------------------- registers
    def read(self, address: int) -> int:
        """The value a read returns now (status bits follow their enables)."""
        value = self.regs.get(address, 0)
        if address == F4F7_RCC:
            value &= ~((1 << 1) | (1 << 17) | (1 << 25))
            value |= ((value >> 0) & 1) << 1 | ((value >> 16) & 1) << 17 | ((value >> 24) & 1) << 25
        elif address == F4F7_RCC + 0x08:
            value = (value & ~0xC) | ((value & 0x3) << 2)
        elif address == F4F7_PWR + 0x04:
            cr1 = self.regs[F4F7_PWR]
            value = (1 << 14) | (((cr1 >> 16) & 1) << 16) | (((cr1 >> 17) & 1) << 17)
        return value

    def write(self, address: int, value: int) -> None:
        if address not in self.regs:
            return
        before = dict(self.regs)
        self.regs[address] = value & 0xFFFF_FFFF
        self.writes.append((address, value))
        self._check(address, before)
        self.snapshot = self._snapshot()

    # ---------------------------------------------------------------- state
    def _pll_on(self, regs=None) -> bool:
        return bool((regs or self.regs)[F4F7_RCC] >> 24 & 1)

    def _pll(self) -> tuple[float, float, float]:
        cfg = self.regs[F4F7_RCC + 0x04]
        m, n, p = cfg & 0x3F, (cfg >> 6) & 0x1FF, ((cfg >> 16) & 3) * 2 + 2
        osc = self.board.data.hse_hz if cfg >> 22 & 1 else self.board.data.hsi_hz
        vco_in = osc / m if m else 0.0
        return vco_in, vco_in * n, vco_in * n / p

    def _sysclk(self) -> tuple[float, str]:
        sw = self.regs[F4F7_RCC + 0x08] & 3
        if sw == 0:
            return self.board.data.hsi_hz, "HSI"
        if sw == 1:
            return self.board.data.hse_hz or 0.0, "HSE"
        return self._pll()[2], "PLL"

    def _snapshot(self) -> ClockSnapshot:
        sysclk, source = self._sysclk()
        hpre = HPRE.get((self.regs[F4F7_RCC + 0x08] >> 4) & 0xF, 1)
        cr1 = self.regs[F4F7_PWR]
        od = self.family == "F7" and bool(cr1 >> 17 & 1)
        return ClockSnapshot(sysclk / hpre, source, self.regs[F4F7_FLASH] & 0xF, VOS_NAMES.get((cr1 >> 14) & 3, "?"), od)

    def _scale(self, snap: ClockSnapshot):
        name = snap.scale + ("OD" if snap.overdrive else "")
        for scale in self.board.data.scales:
            if scale.name == name:
                return scale
        raise ClockRuleError(f"voltage scale {name} does not exist on {self.board.name}")

    def _check(self, address: int, before: dict) -> None:
        def fail(rule: str) -> None:
            raise ClockRuleError(f"clock rule broken on {self.board.name} by writing {value:#010x} to "
                                 f"{address:#010x}: {rule}")

        value = self.regs[address]
        if address == F4F7_RCC + 0x04 and self._pll_on(before):
            fail("PLL reconfigured while it is on")
        if address == F4F7_PWR and (before[F4F7_PWR] ^ value) & (3 << 14):
            if self._pll_on():  # RM0385/RM0383 PWR_CR(1).VOS: "modified only when the PLL is OFF"
                fail("voltage scale changed while the PLL is on")
        if address == F4F7_PWR and value >> 17 & 1 and not before[F4F7_PWR] >> 16 & 1:
            fail("over-drive switching enabled before over-drive was ready")
        if address == F4F7_RCC + 0x08 and (value & 3) != (before[address] & 3):
            if (value & 3) == 2 and not self._pll_on():
                fail("PLL selected as SYSCLK before it is on and locked")
            if (value & 3) == 1 and not self.regs[F4F7_RCC] >> 16 & 1:
                fail("HSE selected as SYSCLK before it is on and ready")
        if address == F4F7_RCC and value >> 24 & 1 and not before[F4F7_RCC] >> 24 & 1:
            pll = self.board.data.pll
            vco_in, vco, _ = self._pll()
            if not (pll.input_min_hz <= vco_in <= pll.input_max_hz and pll.vco_min_hz <= vco <= pll.vco_max_hz):
                fail(f"PLL started outside its ranges (input {vco_in / 1e6:g} MHz, VCO {vco / 1e6:g} MHz)")
        snap = self._snapshot()
        scale = self._scale(snap)
        if snap.hz > scale.max_hz + 1e-3:
            fail(f"HCLK {snap.hz / 1e6:g} MHz above the {scale.name} limit of {scale.max_hz / 1e6:g} MHz")
        bounds = scale.wait_state_bounds
        needed = next((ws for ws, bound in enumerate(bounds) if snap.hz <= bound + 1e-3), len(bounds))
        if snap.wait_states < needed:
            fail(f"HCLK {snap.hz / 1e6:g} MHz with {snap.wait_states} flash wait states (needs {needed}): "
                 "wait states must go up before the clock does")


def clock_model(board: Board) -> F4F7ClockModel:
    return F4F7ClockModel(board)
