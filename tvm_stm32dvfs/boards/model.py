"""Board data: the TOML files under ``boards/data/``, validated on load into frozen dataclasses.

Every number in a board file is a table ``{ value = ..., source = "...", estimate = true? }`` (or
``values``/``min``/``max`` for lists and ranges): the loader keeps the value and checks that a
source is given, so a board without citations does not load. Errors name the file and the field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BoardDataError

DATA_DIR = Path(__file__).resolve().parent / "data"
CORES = ("cortex-m4", "cortex-m7")


@dataclass(frozen=True)
class Region:
    name: str
    origin: int
    bytes: int


@dataclass(frozen=True)
class Scale:
    """A voltage scale (or range), with over-drive/boost when ``overdrive``."""

    name: str
    max_hz: float
    vcore: float
    overdrive: bool
    wait_state_bounds: tuple[float, ...]  # HCLK upper bound of 0, 1, 2, ... wait states


@dataclass(frozen=True)
class PllLimits:
    input_min_hz: float
    input_max_hz: float
    vco_min_hz: float
    vco_max_hz: float
    m: tuple[int, int]
    n: tuple[int, int]
    p: tuple[int, ...]
    lock_us: float
    current_ma: float


@dataclass(frozen=True)
class CurrentTable:
    """(frequency, mA, scale) points of a datasheet table."""

    points: tuple[tuple[float, float, str], ...]
    source: str
    estimate: bool


@dataclass(frozen=True)
class Pin:
    port: int  # 0 = A
    pin: int
    af: int | None = None  # alternate function number (a peripheral's pin)

    @property
    def name(self) -> str:
        return f"P{chr(ord('A') + self.port)}{self.pin}"


@dataclass(frozen=True)
class Console:
    """The U(S)ART wired to the ST-LINK virtual COM port, and its TX and RX pins."""

    peripheral: str
    tx: Pin
    rx: Pin
    baud: int = 115200


#: console peripherals the runtime's board I/O drives, per family (runtime/board/stm32dvfs_board_io.c)
CONSOLE_PERIPHERALS = {"F4": ("USART1", "USART2", "USART3"), "F7": ("USART1", "USART2", "USART3"),
                       "H7": ("USART3",), "L4": ("LPUART1",)}


@dataclass(frozen=True)
class BoardData:
    path: Path
    name: str
    mcu: str
    family: str
    core: str
    fpu: str
    vdd: float
    memory: tuple[Region, ...]
    hsi_hz: float
    hse_hz: float | None
    msi_hz: tuple[float, ...]
    pll: PllLimits
    ahb_prescalers: tuple[int, ...]
    scales: tuple[Scale, ...]
    run_current: CurrentTable
    sleep_current: CurrentTable
    stop_current_ma: float
    stop_wakeup_us: float
    sleep_wakeup_cycles: int
    timing: dict[str, float]
    #: the memory-to-memory DMA of the runtime: bus cycles per item besides the flash wait
    #: states of reading it, and the controller's current per MHz of HCLK
    dma_bus_cycles_per_item: float
    dma_current_ua_per_mhz: float
    console: Console | None = None
    marker: Pin | None = None  # the phase marker output (a header pin a power analyser triggers on)


class _Reader:
    """Field access with one-line errors naming the file and the dotted field."""

    def __init__(self, path: Path, data: dict) -> None:
        self.path = path
        self.data = data

    def fail(self, field: str, what: str) -> BoardDataError:
        return BoardDataError(f"{self.path.name}: field '{field}' {what}")

    def get(self, field: str, table: dict | None = None, required: bool = True) -> Any:
        node: Any = self.data if table is None else table
        for part in field.split("."):
            if not isinstance(node, dict) or part not in node:
                if required:
                    raise self.fail(field, "is missing")
                return None
            node = node[part]
        return node

    def cited(self, field: str, key: str = "value", table: dict | None = None, required: bool = True) -> Any:
        """A number (or list) with its source: ``{ value = ..., source = ... }``."""
        entry = self.get(field, table, required)
        if entry is None:
            return None
        if not isinstance(entry, dict) or key not in entry:
            raise self.fail(field, f"must be a table with '{key}' and 'source'")
        if not isinstance(entry.get("source"), str) or not entry["source"].strip():
            raise self.fail(field, "has no source: cite the document and table, or mark it estimate with how")
        if entry.get("estimate") and "estimate" not in entry["source"].lower():
            raise self.fail(field, "is marked estimate but its source does not say how it was derived")
        return entry[key]

    def number(self, field: str, table: dict | None = None, positive: bool = True, required: bool = True):
        value = self.cited(field, table=table, required=required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(field, f"must be a number, got {value!r}")
        if positive and value <= 0:
            raise self.fail(field, f"must be positive, got {value}")
        return float(value)


def _current_table(r: _Reader, field: str, scale_names: set[str]) -> CurrentTable:
    tables = r.get(field)
    if not isinstance(tables, list) or len(tables) != 1 or not isinstance(tables[0], dict):
        raise r.fail(field, "must be one [[table]] with 'points' and 'source'")
    t = tables[0]
    if not isinstance(t.get("source"), str) or not t["source"].strip():
        raise r.fail(f"{field}.source", "is missing: cite the datasheet table")
    points = []
    for i, p in enumerate(t.get("points", [])):
        if not (isinstance(p, list) and len(p) == 3 and isinstance(p[0], (int, float)) and isinstance(p[1], (int, float))
                and p[2] in scale_names and p[0] > 0 and p[1] > 0):
            raise r.fail(f"{field}.points[{i}]", f"must be [hz > 0, mA > 0, scale name], got {p!r}")
        points.append((float(p[0]), float(p[1]), str(p[2])))
    if len(points) < 2:
        raise r.fail(f"{field}.points", "needs at least two points")
    freqs = [p[0] for p in points]
    if len(set(freqs)) != len(freqs):
        raise r.fail(f"{field}.points", "has two points at one frequency")
    ordered = sorted(points)
    if any(b[1] < a[1] for a, b in zip(ordered, ordered[1:])):
        raise r.fail(f"{field}.points", "current must not fall as frequency rises")
    return CurrentTable(tuple(ordered), t["source"], bool(t.get("estimate", False)))


def _pin(r: _Reader, field: str, alternate: bool) -> Pin:
    port = r.cited(field, key="port")
    pin = r.cited(field, key="pin")
    if not (isinstance(port, str) and len(port) == 1 and "A" <= port <= "K"):
        raise r.fail(field, f"port must be a letter A..K, got {port!r}")
    if not (isinstance(pin, int) and 0 <= pin <= 15):
        raise r.fail(field, f"pin must be 0..15, got {pin!r}")
    af = r.cited(field, key="af") if alternate else None
    if alternate and not (isinstance(af, int) and 0 <= af <= 15):
        raise r.fail(field, f"af must be an alternate-function number 0..15, got {af!r}")
    return Pin(ord(port) - ord("A"), pin, af)


def _console(r: _Reader, family: str) -> Console | None:
    if r.get("console", required=False) is None:
        return None
    peripheral = r.cited("console.peripheral")
    supported = CONSOLE_PERIPHERALS.get(family, ())
    if peripheral not in supported:
        raise r.fail("console.peripheral", f"{peripheral!r} is not a console the runtime drives on {family} "
                     f"(one of {', '.join(supported) or 'none'})")
    baud = r.number("console.baud")
    return Console(str(peripheral), _pin(r, "console.tx", alternate=True), _pin(r, "console.rx", alternate=True),
                   int(baud))


def parse_board(path: Path) -> BoardData:
    """Read and validate one board file."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise BoardDataError(f"{path}: no such board file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BoardDataError(f"{path.name}: not valid TOML ({exc})") from None
    r = _Reader(path, data)
    name = r.get("name")
    core = r.get("core")
    if core not in CORES:
        raise r.fail("core", f"must be one of {', '.join(CORES)}, got {core!r}")
    memory = []
    for region in ("flash", "sram", "dtcm", "itcm"):
        entry = r.get(f"memory.{region}", required=region in ("flash", "sram"))
        if entry is None:
            continue
        origin = r.cited(f"memory.{region}", key="origin")
        size = r.cited(f"memory.{region}", key="bytes")
        if not isinstance(origin, int) or not isinstance(size, int) or size <= 0:
            raise r.fail(f"memory.{region}", "needs integer origin and bytes > 0")
        memory.append(Region(region, origin, size))
    scales = []
    flash_bounds = r.cited("flash.max_hz_per_wait_states", key="values")
    for i, s in enumerate(r.get("scales")):
        sname = s.get("name")
        if not isinstance(sname, str):
            raise r.fail(f"scales[{i}].name", "is missing")
        max_hz = r.number("max_hz", table=s)
        bounds = r.cited("max_hz_per_wait_states", key="values", table=s, required=False) or flash_bounds
        if not bounds or any(b <= 0 for b in bounds) or list(bounds) != sorted(bounds):
            raise r.fail(f"scales[{i}].max_hz_per_wait_states", "must be increasing positive frequencies")
        if bounds[-1] < max_hz:
            raise r.fail(f"scales[{i}]", f"max_hz {max_hz:g} is above its last wait-state bound {bounds[-1]:g}")
        scales.append(Scale(sname, max_hz, r.number("vcore", table=s), bool(s.get("overdrive", False)),
                            tuple(float(b) for b in bounds)))
    if not scales:
        raise r.fail("scales", "must list at least one voltage scale")
    if any(b.vcore < a.vcore for a, b in zip(scales, scales[1:])) or any(
            b.max_hz < a.max_hz for a, b in zip(scales, scales[1:])):
        raise r.fail("scales", "must go from the lowest voltage / frequency to the highest")
    m = (int(r.cited("pll.m", key="min")), int(r.cited("pll.m", key="max")))
    n = (int(r.cited("pll.n", key="min")), int(r.cited("pll.n", key="max")))
    p = tuple(int(v) for v in r.cited("pll.p", key="values"))
    pll = PllLimits(r.number("pll.input_min_hz"), r.number("pll.input_max_hz"), r.number("pll.vco_min_hz"),
                    r.number("pll.vco_max_hz"), m, n, p, r.number("pll.lock_us"), r.number("pll.current_ma"))
    if pll.input_min_hz >= pll.input_max_hz or pll.vco_min_hz >= pll.vco_max_hz or m[0] > m[1] or n[0] > n[1] or not p:
        raise r.fail("pll", "has an empty range")
    names = {s.name for s in scales}
    timing = {k: r.number(f"timing.{k}") for k in (data.get("timing") or {})}
    for needed in ("regulator_settle_us", "sysclk_switch_cycles", "hsi_startup_us"):
        if needed not in timing:
            raise r.fail(f"timing.{needed}", "is missing")
    msi = r.cited("oscillators.msi_hz", key="values", required=False)
    return BoardData(
        path=path, name=str(name), mcu=str(r.get("mcu")), family=str(r.get("family")), core=core,
        fpu=str(r.get("fpu")), vdd=r.number("vdd"), memory=tuple(memory),
        hsi_hz=r.number("oscillators.hsi_hz"), hse_hz=r.number("oscillators.hse_hz", required=False),
        msi_hz=tuple(float(v) for v in (msi or ())), pll=pll,
        ahb_prescalers=tuple(int(v) for v in r.cited("ahb.prescalers", key="values")),
        scales=tuple(scales), run_current=_current_table(r, "run_current", names),
        sleep_current=_current_table(r, "sleep_current", names),
        stop_current_ma=r.number("stop.current_ma"), stop_wakeup_us=r.number("stop.wakeup_us"),
        sleep_wakeup_cycles=int(r.number("sleep.wakeup_cycles")), timing=timing,
        dma_bus_cycles_per_item=r.number("dma.bus_cycles_per_item"),
        dma_current_ua_per_mhz=r.number("dma.current_ua_per_mhz"),
        console=_console(r, str(r.get("family"))),
        marker=_pin(r, "marker.pin", alternate=False) if r.get("marker", required=False) is not None else None,
    )
