"""Clock-register tracking in the emulator, and the switching-rule checker.

The emulator maps the RCC, PWR and FLASH registers of the board's family and runs the firmware's
own clock driver against a model of them: reads see the ready/status bits a real chip shows once
a clock is stable (the model has no delays: it checks order, not timing), every write is checked
against the board's rules at once, and the clock state the registers select is known at every
moment, so each layer phase is attributed to the clock it ran at.

Rules (a violation would hang or brown out a board, so it raises :class:`ClockRuleError`):
the frequency never above what the flash wait states allow, nor above the voltage scale's
limit (over-drive/boost included); the PLL configured only while off, started only within its
input and VCO ranges, selected only once on; an oscillator selected only once on; the voltage
scale changed only with the PLL off on F4/F7 (RM0383/RM0385 PWR_CR(1).VOS); over-drive switched
only once ready (F7), VOS0 entered only from VOS1 (H7, RM0433 6.8.4), boost only in Range 1 (L4+,
RM0432 5.1.8). Register maps: RM0383/RM0385 (F4/F7), RM0433 (H7), RM0432 (L4+).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..boards import Board
from ..errors import Stm32DvfsError

F4F7_RCC, F4F7_PWR, F4F7_FLASH = 0x40023800, 0x40007000, 0x40023C00
H7_RCC, H7_PWR, H7_SYSCFG, H7_FLASH = 0x58024400, 0x58024800, 0x58000400, 0x52002000
L4_RCC, L4_PWR, L4_FLASH = 0x40021000, 0x40007000, 0x40022000

#: AHB/CPU prescaler field -> divider (the same encoding on every family)
DIVIDERS = {0: 1, 8: 2, 9: 4, 10: 8, 11: 16, 12: 64, 13: 128, 14: 256, 15: 512}
#: L4+ MSIRANGE -> Hz (RM0432 6.4.1)
MSI_RANGES = {4: 1e6, 5: 2e6, 6: 4e6, 7: 8e6, 8: 16e6, 9: 24e6, 10: 32e6, 11: 48e6}


class ClockRuleError(Stm32DvfsError):
    """The firmware's clock sequence breaks a rule of the board (a bug in the generated code)."""


@dataclass(frozen=True)
class ClockSnapshot:
    """The clock state the registers select: what the instructions run at."""

    hz: float
    source: str
    wait_states: int
    scale: str  # the board's scale name (over-drive/boost included, e.g. S1OD, VOS0, R1B)
    overdrive: bool


@dataclass(frozen=True)
class _Decoded:
    """The registers read as a clock tree."""

    sw: str  # HSI, HSE, MSI, PLL
    oscillators_on: frozenset
    pll_on: bool
    pll: tuple  # (source Hz, m, n, p): what a change of means reconfiguration
    divider: int
    wait_states: int
    vos: int
    overdrive: bool
    overdrive_ready: bool = True


class _RegisterModel:
    """Common rules; a family supplies its registers, reset values, read view and decoding."""

    family = ""
    pages: tuple[int, ...] = ()
    scale_names: dict[int, str] = {}
    overdrive_scale = ""
    vos_needs_pll_off = False

    def __init__(self, board: Board):
        self.board = board
        self.regs = dict(self.reset_values())
        self.snapshot = self._snapshot(self.decode())

    # family parts
    def reset_values(self) -> dict[int, int]:
        raise NotImplementedError

    def read(self, address: int) -> int:
        raise NotImplementedError

    def decode(self) -> _Decoded:
        raise NotImplementedError

    def family_rules(self, before: _Decoded, after: _Decoded) -> str | None:
        return None

    # common parts
    def tracks(self, address: int) -> bool:
        """Whether the model keeps ``address`` (the rest of its pages is plain memory)."""
        return address in self.regs

    def write(self, address: int, value: int) -> None:
        if address not in self.regs:
            return
        before = self.decode()
        self.regs[address] = value & 0xFFFF_FFFF
        after = self.decode()
        rule = self._rules(before, after)
        if rule is not None:
            raise ClockRuleError(f"clock rule broken on {self.board.name} by writing {value:#010x} to "
                                 f"{address:#010x}: {rule}")
        self.snapshot = self._snapshot(after)

    def _oscillator_hz(self, name: str, d: _Decoded) -> float:
        data = self.board.data
        return {"HSI": data.hsi_hz, "HSE": data.hse_hz or 0.0}.get(name, 0.0)

    def _sysclk(self, d: _Decoded) -> float:
        if d.sw == "PLL":
            osc, m, n, p = d.pll
            return osc / m * n / p if m and p else 0.0
        return self._oscillator_hz(d.sw, d)

    def _scale_name(self, d: _Decoded) -> str:
        return self.overdrive_scale if d.overdrive else self.scale_names.get(d.vos, f"VOS code {d.vos}")

    def _snapshot(self, d: _Decoded) -> ClockSnapshot:
        return ClockSnapshot(self._sysclk(d) / d.divider, d.sw, d.wait_states, self._scale_name(d), d.overdrive)

    def _rules(self, before: _Decoded, after: _Decoded) -> str | None:
        if before.pll_on and after.pll != before.pll:
            return "PLL reconfigured while it is on"
        if self.vos_needs_pll_off and after.vos != before.vos and after.pll_on:
            return "voltage scale changed while the PLL is on"
        if after.pll_on and not before.pll_on:
            limits = self.board.data.pll
            osc, m, n, p = after.pll
            vco_in = osc / m if m else 0.0
            if not (limits.input_min_hz <= vco_in <= limits.input_max_hz
                    and limits.vco_min_hz <= vco_in * n <= limits.vco_max_hz):
                return f"PLL started outside its ranges (input {vco_in / 1e6:g} MHz, VCO {vco_in * n / 1e6:g} MHz)"
        if after.sw != before.sw:
            if after.sw == "PLL" and not after.pll_on:
                return "PLL selected as SYSCLK before it is on and locked"
            if after.sw != "PLL" and after.sw not in after.oscillators_on:
                return f"{after.sw} selected as SYSCLK before it is on and ready"
        rule = self.family_rules(before, after)
        if rule is not None:
            return rule
        snap = self._snapshot(after)
        scale = next((s for s in self.board.data.scales if s.name == snap.scale), None)
        if scale is None:
            return f"voltage scale {snap.scale} does not exist on {self.board.name}"
        if snap.hz > scale.max_hz + 1e-3:
            return f"{snap.hz / 1e6:g} MHz above the {scale.name} limit of {scale.max_hz / 1e6:g} MHz"
        bounds = scale.wait_state_bounds
        needed = next((ws for ws, bound in enumerate(bounds) if snap.hz <= bound + 1e-3), len(bounds))
        if snap.wait_states < needed:
            return (f"{snap.hz / 1e6:g} MHz with {snap.wait_states} flash wait states (needs {needed}): "
                    "wait states must go up before the clock does")
        return None


def _bit(value: int, n: int) -> bool:
    return bool(value >> n & 1)


class F4F7Model(_RegisterModel):
    pages = (0x40007000, 0x40023000)
    scale_names = {1: "S3", 2: "S2", 3: "S1"}
    vos_needs_pll_off = True

    def __init__(self, board: Board):
        self.family = board.data.family
        super().__init__(board)

    def reset_values(self) -> dict[int, int]:
        return {F4F7_RCC: 0x83, F4F7_RCC + 0x04: 0x2400_3010, F4F7_RCC + 0x08: 0, F4F7_RCC + 0x40: 0,
                F4F7_PWR: 0xC000 if self.family == "F7" else 0x8000, F4F7_PWR + 0x04: 0, F4F7_FLASH: 0}

    def read(self, address: int) -> int:
        value = self.regs.get(address, 0)
        if address == F4F7_RCC:  # xRDY follow xON
            value = value & ~(1 << 1 | 1 << 17 | 1 << 25) | (value & 1) << 1 | (value >> 16 & 1) << 17 \
                | (value >> 24 & 1) << 25
        elif address == F4F7_RCC + 0x08:  # SWS follows SW
            value = (value & ~0xC) | (value & 3) << 2
        elif address == F4F7_PWR + 0x04:  # VOSRDY; ODRDY, ODSWRDY follow ODEN, ODSWEN
            cr1 = self.regs[F4F7_PWR]
            value = 1 << 14 | (cr1 >> 16 & 1) << 16 | (cr1 >> 17 & 1) << 17
        return value

    def decode(self) -> _Decoded:
        cr, cfg, cfgr, pwr = (self.regs[F4F7_RCC], self.regs[F4F7_RCC + 4], self.regs[F4F7_RCC + 8],
                              self.regs[F4F7_PWR])
        osc = self.board.data.hse_hz if _bit(cfg, 22) else self.board.data.hsi_hz
        on = frozenset(name for name, bit in (("HSI", 0), ("HSE", 16)) if _bit(cr, bit))
        od = self.family == "F7" and _bit(pwr, 17)
        return _Decoded(("HSI", "HSE", "PLL", "PLL")[cfgr & 3], on, _bit(cr, 24),
                        (osc, cfg & 0x3F, cfg >> 6 & 0x1FF, (cfg >> 16 & 3) * 2 + 2),
                        DIVIDERS.get(cfgr >> 4 & 0xF, 1), self.regs[F4F7_FLASH] & 0xF, pwr >> 14 & 3, od,
                        overdrive_ready=_bit(pwr, 16))

    @property
    def overdrive_scale(self) -> str:  # type: ignore[override]
        return self.scale_names.get(self.decode().vos, "?") + "OD"

    def family_rules(self, before: _Decoded, after: _Decoded) -> str | None:
        if after.overdrive and not before.overdrive and not before.overdrive_ready:
            return "over-drive switching enabled before over-drive was ready"
        return None


class H7Model(_RegisterModel):
    family = "H7"
    pages = (0x58024000, 0x58000000, 0x52002000)
    scale_names = {1: "VOS3", 2: "VOS2", 3: "VOS1"}
    overdrive_scale = "VOS0"

    def reset_values(self) -> dict[int, int]:
        return {H7_RCC: 0x25, H7_RCC + 0x10: 0, H7_RCC + 0x18: 0, H7_RCC + 0x1C: 0, H7_RCC + 0x20: 0,
                H7_RCC + 0x28: 0x0202_0200, H7_RCC + 0x2C: 0x01FF_0000, H7_RCC + 0x30: 0x0101_0280,
                H7_RCC + 0xF4: 0, H7_PWR + 0x18: 0x4000, H7_SYSCFG + 0x2C: 0, H7_FLASH: 0x37}

    def read(self, address: int) -> int:
        value = self.regs.get(address, 0)
        if address == H7_RCC:
            value = value & ~(1 << 2 | 1 << 17 | 1 << 25) | (value & 1) << 2 | (value >> 16 & 1) << 17 \
                | (value >> 24 & 1) << 25
        elif address == H7_RCC + 0x10:
            value = (value & ~0x38) | (value & 7) << 3
        elif address == H7_PWR + 0x18:
            value |= 1 << 13  # VOSRDY
        return value

    def decode(self) -> _Decoded:
        cr, cfgr, d1, cksel, divr = (self.regs[H7_RCC], self.regs[H7_RCC + 0x10], self.regs[H7_RCC + 0x18],
                                     self.regs[H7_RCC + 0x28], self.regs[H7_RCC + 0x30])
        osc = {0: self.board.data.hsi_hz, 2: self.board.data.hse_hz or 0.0}.get(cksel & 3, 0.0)
        on = frozenset(name for name, bit in (("HSI", 0), ("HSE", 16)) if _bit(cr, bit))
        sw = {0: "HSI", 1: "CSI", 2: "HSE", 3: "PLL"}.get(cfgr & 7, "?")
        return _Decoded(sw, on, _bit(cr, 24), (osc, cksel >> 4 & 0x3F, (divr & 0x1FF) + 1, (divr >> 9 & 0x7F) + 1),
                        DIVIDERS.get(d1 >> 8 & 0xF, 1), self.regs[H7_FLASH] & 0xF, self.regs[H7_PWR + 0x18] >> 14 & 3,
                        _bit(self.regs[H7_SYSCFG + 0x2C], 0))

    def family_rules(self, before: _Decoded, after: _Decoded) -> str | None:
        if after.overdrive and after.vos != 3:
            return "VOS0 (ODEN) outside VOS1: enter it from VOS1 and leave it to VOS1"
        return None


class L4Model(_RegisterModel):
    family = "L4"
    pages = (0x40007000, 0x40021000, 0x40022000)
    scale_names = {1: "R1", 2: "R2"}
    overdrive_scale = "R1B"

    def reset_values(self) -> dict[int, int]:
        return {L4_RCC: 0x63, L4_RCC + 0x08: 0, L4_RCC + 0x0C: 0x1000, L4_RCC + 0x58: 0, L4_PWR: 0x200,
                L4_PWR + 0x14: 0, L4_PWR + 0x80: 0x100, L4_FLASH: 0x600}

    def _oscillator_hz(self, name: str, d: _Decoded) -> float:
        if name == "MSI":
            return MSI_RANGES.get(self.regs[L4_RCC] >> 4 & 0xF, 4e6)
        return super()._oscillator_hz(name, d)

    def read(self, address: int) -> int:
        value = self.regs.get(address, 0)
        if address == L4_RCC:
            value = value & ~(1 << 1 | 1 << 10 | 1 << 17 | 1 << 25) | (value & 1) << 1 | (value >> 8 & 1) << 10 \
                | (value >> 16 & 1) << 17 | (value >> 24 & 1) << 25
        elif address == L4_RCC + 0x08:
            value = (value & ~0xC) | (value & 3) << 2
        elif address == L4_PWR + 0x14:
            value = 0  # VOSF clear: the regulator is settled
        return value

    def write(self, address: int, value: int) -> None:
        if address == L4_RCC and (self.regs[L4_RCC] ^ value) & 0xF0 and self.decode().sw == "MSI":
            raise ClockRuleError(f"clock rule broken on {self.board.name}: MSI range changed while MSI is SYSCLK")
        super().write(address, value)

    def decode(self) -> _Decoded:
        cr, cfgr, pll = self.regs[L4_RCC], self.regs[L4_RCC + 0x08], self.regs[L4_RCC + 0x0C]
        msi = MSI_RANGES.get(cr >> 4 & 0xF, 4e6)
        osc = {1: msi, 2: self.board.data.hsi_hz, 3: self.board.data.hse_hz or 0.0}.get(pll & 3, 0.0)
        on = frozenset(name for name, bit in (("MSI", 0), ("HSI", 8), ("HSE", 16)) if _bit(cr, bit))
        return _Decoded(("MSI", "HSI", "HSE", "PLL")[cfgr & 3], on, _bit(cr, 24),
                        (osc, (pll >> 4 & 0xF) + 1, pll >> 8 & 0x7F, (pll >> 25 & 3) * 2 + 2),
                        DIVIDERS.get(cfgr >> 4 & 0xF, 1), self.regs[L4_FLASH] & 0xF, self.regs[L4_PWR] >> 9 & 3,
                        not _bit(self.regs[L4_PWR + 0x80], 8))

    def family_rules(self, before: _Decoded, after: _Decoded) -> str | None:
        if after.overdrive and after.vos != 1:
            return "Range 1 boost outside Range 1"
        return None


MODELS = {"F4": F4F7Model, "F7": F4F7Model, "H7": H7Model, "L4": L4Model}


def clock_model(board: Board) -> _RegisterModel:
    """The clock-register model of ``board``'s family."""
    try:
        return MODELS[board.data.family](board)
    except KeyError:
        raise Stm32DvfsError(f"no clock-register model for the {board.data.family} family "
                             f"(known: {', '.join(MODELS)})") from None
