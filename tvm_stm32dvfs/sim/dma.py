"""The boards' DMA controllers as a register model in the emulator, and their configuration rules.

The runtime's real DMA driver (runtime/src/stm32dvfs_dma_stream.c, _channel.c) runs against a
model of the controller the board's family uses for memory-to-memory copies: the F4/F7 DMA2 and
the H7 DMA1 (stream controllers, RM0383 section 9, RM0385 section 8, RM0433 section 15, with
DMAMUX1 on the H7, RM0433 section 17) and the L4+ DMA1 (channel controller, RM0432 section 11,
with DMAMUX1, section 12), and the NVIC's enable and pending registers (ARMv7-M ARM, B3.4). When
the driver enables a channel the model checks the configuration. A transfer without its
transfer-complete interrupt (TCIE) runs until the driver reads the interrupt status register
the second time (the first read finds it running); one with the interrupt enabled runs until the core sleeps
(WFI, :meth:`_Controller.sleep`): it then completes and its interrupt becomes pending in the NVIC,
which wakes the core. Completing copies the bytes in the emulator's memory, sets the flags and
counts the bytes per layer (the model checks order and configuration, not timing: the time is
the cost model's, :mod:`tvm_stm32dvfs.boards.dma`).

Rules (a violation would hang a board, corrupt memory or fault the bus, so it raises
:class:`DmaRuleError` naming the rule): a channel is configured only while disabled; it is
enabled only with its controller's clock on (RCC_AHB1ENR); only memory-to-memory transfers with
incrementing addresses and equal item sizes are modelled, through the FIFO on a stream controller
(direct mode disabled), with four-word bursts only where the item count is a multiple of four and
the FIFO threshold is full; no request line routed to the channel (DMAMUX1); addresses aligned to
the item size; both ranges all memory of the board (adjoining regions count as one, as the F7's
DTCM and SRAM1) and none of it in a region the controller cannot reach (the H7's DMA1, in the D2
domain, reaches neither ITCM nor DTCM). A core that sleeps must have something to wake it: a
running transfer with its interrupt enabled in the channel and in the NVIC, masked by PRIMASK
(no handler is installed, so an unmasked interrupt would enter the default handler).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

from ..boards import Board
from ..errors import Stm32DvfsError


class DmaRuleError(Stm32DvfsError):
    """The firmware's DMA driver broke a rule of the controller (see the module docstring)."""


#: (read the emulator's memory, write it): what a controller copies with
MemoryAccess = tuple[Callable[[int, int], bytes], Callable[[int, bytes], None]]


#: the NVIC's registers (ARMv7-M ARM, B3.4): set-enable, clear-enable, set-pending, clear-pending
NVIC_PAGE = 0xE000E000
NVIC_ISER, NVIC_ICER, NVIC_ISPR, NVIC_ICPR = 0xE000E100, 0xE000E180, 0xE000E200, 0xE000E280


class _Controller:
    """Registers of one controller; a family supplies the layout and the enable decoding."""

    name = ""
    pages: tuple[int, ...] = ()
    irqs: dict[int, int] = {}  # channel -> its interrupt's number
    unreachable: tuple[str, ...] = ()  # memory regions of the board the controller cannot reach
    clock_enable: tuple[int, int, str] = (0, 0, "")  # RCC register, bits, name

    def __init__(self, board: Board, memory: MemoryAccess, rcc: Callable[[int], int]):
        self.board = board
        self.memory = memory
        self.rcc = rcc
        self.regs: dict[int, int] = {}
        self.layer: Callable[[], int] = lambda: -1
        #: phase changes so far in the current layer: a transfer completing after more of them than
        #: it started after ran while the core went on to another phase (the overlap mode)
        self.phase_changes: Callable[[], int] = lambda: 0
        self.started_after: dict[int, int] = {}  # channel -> phase changes when it was enabled
        self.polls: dict[int, int] = {}  # channel -> reads of its flags since it was enabled
        self.overlapped_by_layer: Counter = Counter()
        self.bytes_by_layer: Counter = Counter()
        self.transfers_by_layer: Counter = Counter()
        self.items_by_layer: Counter = Counter()  # bus items (bytes or words) moved
        self.sleeps_by_layer: Counter = Counter()  # WFIs the core executed waiting for a transfer
        self.running: dict[int, tuple] = {}  # channel -> (source, destination, items, item bytes)
        self.interrupting: set[int] = set()  # running channels with their transfer-complete interrupt on
        self.nvic_enabled: set[int] = set()
        self.nvic_pending: set[int] = set()

    def tracks(self, address: int) -> bool:
        """Every register of the controller's pages (the NVIC's among them) is the model's."""
        return any(page <= address < page + 0x1000 for page in self.pages)

    def _nvic_read(self, address: int) -> int | None:
        for base, bits in ((NVIC_ISER, self.nvic_enabled), (NVIC_ICER, self.nvic_enabled),
                           (NVIC_ISPR, self.nvic_pending), (NVIC_ICPR, self.nvic_pending)):
            if base <= address < base + 0x20:
                word = (address - base) // 4
                return sum(1 << (irq % 32) for irq in bits if irq // 32 == word)
        return None

    def _nvic_write(self, address: int, value: int) -> bool:
        for base, bits, setting in ((NVIC_ISER, self.nvic_enabled, True), (NVIC_ICER, self.nvic_enabled, False),
                                    (NVIC_ISPR, self.nvic_pending, True), (NVIC_ICPR, self.nvic_pending, False)):
            if base <= address < base + 0x20:
                word = (address - base) // 4
                irqs = {32 * word + bit for bit in range(32) if value >> bit & 1}
                bits.update(irqs) if setting else bits.difference_update(irqs)
                return True
        return False

    def sleep(self, primask: int) -> None:
        """The core executed WFI: the transfers with their interrupt enabled complete and their
        interrupts become pending, which wakes it."""
        waking = [c for c in self.interrupting if c in self.running and self.irqs[c] in self.nvic_enabled]
        if not waking:
            self._fail("the core sleeps (WFI) with no running transfer whose transfer-complete interrupt is "
                       "enabled in the channel (TCIE) and in the NVIC (ISER): nothing would wake it")
        if not primask & 1:
            self._fail("the core sleeps (WFI) with PRIMASK clear: the DMA interrupt that wakes it would be "
                       "taken, and the runtime installs no handler for it (set PRIMASK, cpsid i, first)")
        self.sleeps_by_layer[self.layer()] += 1
        for channel in waking:
            self._complete(channel)
            self.nvic_pending.add(self.irqs[channel])

    def _complete(self, channel: int) -> None:
        """The transfer of ``channel`` ends: the bytes are copied, the flags set."""
        raise NotImplementedError

    # family parts
    def _clear_flags(self, address: int, value: int) -> bool:
        """Handle a write to a flag-clear register (True), or leave it (False)."""
        raise NotImplementedError

    def _locate(self, address: int) -> tuple[int, int, int] | None:
        """(channel, its control register, offset from it) of a channel register, else None."""
        raise NotImplementedError

    def _busy_rule(self, channel: int) -> str:
        raise NotImplementedError

    def read(self, address: int) -> int:
        nvic = self._nvic_read(address)
        if nvic is not None:
            return nvic
        for channel in [c for c in self.running if c not in self.interrupting and self._flags_of(c) == address]:
            # a polled transfer is still running at the first poll (a transfer takes longer than
            # the few instructions between its enable and that read) and done at the next
            self.polls[channel] = self.polls.get(channel, 0) + 1
            if self.polls[channel] > 1:
                self._complete(channel)
        return self.regs.get(address, 0)

    def _flags_of(self, channel: int) -> int:
        """The address of the status register holding ``channel``'s flags."""
        raise NotImplementedError

    # common parts
    def _fail(self, rule: str) -> None:
        raise DmaRuleError(f"DMA rule broken on {self.board.name} ({self.name}): {rule}")

    def _start(self, channel: int, control: int) -> None:
        raise NotImplementedError

    def write(self, address: int, value: int) -> None:
        """Configuration only while a channel is disabled (EN, bit 0 of its control register);
        enabling it starts the transfer, disabling it mid-transfer aborts it."""
        value &= 0xFFFF_FFFF
        if self._nvic_write(address, value) or self._clear_flags(address, value):
            return
        where = self._locate(address)
        if where is None:
            self.regs[address] = value
            return
        channel, control, offset = where
        current = self.regs.get(control, 0)
        enabled = current & 1
        if enabled and not (offset == 0 and (value & ~1) == (current & ~1)):
            self._fail(self._busy_rule(channel))
        if enabled and offset == 0 and not value & 1:
            self.running.pop(channel, None)  # aborted, nothing copied
            self.interrupting.discard(channel)
        self.regs[address] = value
        if offset == 0 and value & 1 and not enabled:
            self._start(channel, control)

    def _check_clock(self) -> None:
        register, bits, name = self.clock_enable
        if self.rcc(register) & bits != bits:
            self._fail(f"a channel enabled with the controller's clock off ({name} = 0)")

    def _region(self, address: int, nbytes: int, role: str) -> None:
        """Every byte of the range in the board's memory (regions may adjoin, as the F7's DTCM and
        SRAM1 do), none in a region the controller cannot reach."""
        covered = 0
        for region in self.board.data.memory:
            overlap = min(address + nbytes, region.origin + region.bytes) - max(address, region.origin)
            if overlap <= 0:
                continue
            if region.name in self.unreachable:
                self._fail(f"the {role} {address:#010x} + {nbytes} bytes reaches into {region.name.upper()}, which "
                           f"{self.name} cannot reach (RM0433 section 2.1, system architecture)")
            covered += overlap
        if covered != nbytes:
            self._fail(f"the {role} range {address:#010x} + {nbytes} bytes is not all memory of the board")

    def _check_transfer(self, src: int, dst: int, items: int, size: int) -> None:
        if items == 0:
            self._fail("a channel enabled with an item count of 0")
        for address, role in ((src, "source"), (dst, "destination")):
            if address % size:
                self._fail(f"the {role} {address:#010x} is not aligned to the item size ({size} bytes)")
        self._region(src, items * size, "source")
        self._region(dst, items * size, "destination")

    def _copy(self, src: int, dst: int, items: int, size: int) -> None:
        read, write = self.memory
        write(dst, read(src, items * size))
        self.bytes_by_layer[self.layer()] += items * size
        self.transfers_by_layer[self.layer()] += 1
        self.items_by_layer[self.layer()] += items

    def _started(self, channel: int) -> None:
        self.started_after[channel] = self.phase_changes()
        self.polls[channel] = 0

    def _ended(self, channel: int) -> None:
        if self.phase_changes() != self.started_after.pop(channel, self.phase_changes()):
            self.overlapped_by_layer[self.layer()] += 1


_SIZES = {0: 1, 1: 2, 2: 4}


class StreamDma(_Controller):
    """F4/F7 DMA2 or H7 DMA1: eight streams, stream x's registers at 0x10 + 0x18 * x."""

    def __init__(self, board: Board, memory: MemoryAccess, rcc: Callable[[int], int]):
        super().__init__(board, memory, rcc)
        if board.data.family == "H7":
            self.name, self.base, self.dmamux = "DMA1", 0x40020000, 0x40020800
            self.irqs = dict(enumerate((11, 12, 13, 14, 15, 16, 17, 47)))  # DMA1_Stream0-7
            self.pages = (0x40020000, NVIC_PAGE)
            self.unreachable = ("itcm", "dtcm")
            self.clock_enable = (0x580244D8, 1 << 0, "RCC_AHB1ENR.DMA1EN")
        else:
            self.name, self.base, self.dmamux = "DMA2", 0x40026400, None
            self.irqs = dict(enumerate((56, 57, 58, 59, 60, 68, 69, 70)))  # DMA2_Stream0-7
            self.pages = (0x40026000, NVIC_PAGE)
            self.clock_enable = (0x40023830, 1 << 22, "RCC_AHB1ENR.DMA2EN")

    def _locate(self, address: int) -> tuple[int, int, int] | None:
        offset = address - self.base - 0x10
        if 0 <= offset < 8 * 0x18:
            return offset // 0x18, self.base + 0x10 + offset // 0x18 * 0x18, offset % 0x18
        return None

    def _flags_shift(self, stream: int) -> tuple[int, int]:
        """(LISR or HISR offset, bit position of the stream's six flags)."""
        return (0x00 if stream < 4 else 0x04), (0, 6, 16, 22)[stream % 4]

    def _clear_flags(self, address: int, value: int) -> bool:
        if address not in (self.base + 0x08, self.base + 0x0C):  # LIFCR, HIFCR
            return False
        self.regs[address - 0x08] = self.regs.get(address - 0x08, 0) & ~value
        return True

    def _busy_rule(self, stream: int) -> str:
        return (f"stream {stream} configured while enabled (SxCR.EN = 1): clear EN and wait for it to read 0 "
                "before writing its registers (stream configuration procedure)")

    def _start(self, stream: int, cr_address: int) -> None:
        self._check_clock()
        cr = self.regs[cr_address]
        ndtr, par, m0ar, fcr = (self.regs.get(cr_address + o, 0) for o in (0x04, 0x08, 0x0C, 0x14))
        if cr >> 6 & 3 != 2:
            self._fail(f"stream {stream} enabled for a peripheral transfer (SxCR.DIR != 10): only "
                       "memory-to-memory is modelled")
        if not (cr >> 9 & 1 and cr >> 10 & 1):
            self._fail(f"stream {stream}: memory-to-memory without incrementing both addresses (PINC, MINC)")
        if not fcr >> 2 & 1:
            self._fail(f"stream {stream}: memory-to-memory in direct mode (SxFCR.DMDIS = 0); it needs the FIFO")
        psize, msize = cr >> 11 & 3, cr >> 13 & 3
        if psize != msize or psize not in _SIZES:
            self._fail(f"stream {stream}: PSIZE {psize} and MSIZE {msize} differ (packing is not modelled)")
        size = _SIZES[psize]
        if cr >> 21 & 3 or cr >> 23 & 3:
            if (cr >> 21 & 3, cr >> 23 & 3) != (1, 1) or size != 4:
                self._fail(f"stream {stream}: bursts other than four words on both sides are not modelled")
            if ndtr % 4:
                self._fail(f"stream {stream}: {ndtr} items is not a multiple of the burst (INC4)")
            if fcr & 3 != 3:
                self._fail(f"stream {stream}: four-word bursts need the FIFO threshold full (SxFCR.FTH = 11)")
        if self.dmamux is not None and self.regs.get(self.dmamux + 4 * stream, 0) & 0x7F:
            self._fail(f"stream {stream}: DMAMUX1 channel {stream} routes a request to a memory-to-memory stream")
        self._check_transfer(par, m0ar, ndtr, size)
        self.running[stream] = (par, m0ar, ndtr, size)
        self._started(stream)
        if cr >> 4 & 1:  # TCIE
            self.interrupting.add(stream)

    def _flags_of(self, stream: int) -> int:
        return self.base + self._flags_shift(stream)[0]  # LISR or HISR

    def _complete(self, stream: int) -> None:
        self._ended(stream)
        self._copy(*self.running.pop(stream))
        self.interrupting.discard(stream)
        offset, shift = self._flags_shift(stream)
        self.regs[self.base + offset] = self.regs.get(self.base + offset, 0) | 1 << (shift + 5)  # TCIF
        cr_address = self.base + 0x10 + 0x18 * stream
        self.regs[cr_address] &= ~1  # the hardware clears EN at the end
        self.regs[cr_address + 0x04] = 0


class ChannelDma(_Controller):
    """L4+ DMA1: seven channels, channel x's registers at 0x08 + 0x14 * (x - 1)."""

    name = "DMA1"
    pages = (0x40020000, NVIC_PAGE)
    irqs = {c: 10 + c for c in range(1, 8)}  # DMA1_CH1-7: 11-17
    base, dmamux = 0x40020000, 0x40020800
    clock_enable = (0x40021048, 1 << 0 | 1 << 2, "RCC_AHB1ENR.DMA1EN, DMAMUX1EN")

    def _locate(self, address: int) -> tuple[int, int, int] | None:
        offset = address - self.base - 0x08
        if 0 <= offset < 7 * 0x14:
            return offset // 0x14 + 1, self.base + 0x08 + offset // 0x14 * 0x14, offset % 0x14
        return None

    def _clear_flags(self, address: int, value: int) -> bool:
        if address != self.base + 0x04:  # IFCR: CGIFx clears the channel's four flags
            return False
        for channel in range(1, 8):
            shift = 4 * (channel - 1)
            clear = 0xF if value >> shift & 1 else value >> shift & 0xF
            self.regs[self.base] = self.regs.get(self.base, 0) & ~(clear << shift)
        return True

    def _busy_rule(self, channel: int) -> str:
        return f"channel {channel} configured while enabled (DMA_CCR{channel}.EN = 1): clear EN before writing its registers"

    def _start(self, channel: int, ccr_address: int) -> None:
        self._check_clock()
        ccr = self.regs[ccr_address]
        cndtr, cpar, cmar = (self.regs.get(ccr_address + o, 0) for o in (0x04, 0x08, 0x0C))
        if not ccr >> 14 & 1:
            self._fail(f"channel {channel} enabled for a peripheral transfer (MEM2MEM = 0): only "
                       "memory-to-memory is modelled")
        if ccr >> 4 & 1:
            self._fail(f"channel {channel}: DIR = 1 (the model copies from CPAR to CMAR, DIR = 0)")
        if not (ccr >> 6 & 1 and ccr >> 7 & 1):
            self._fail(f"channel {channel}: memory-to-memory without incrementing both addresses (PINC, MINC)")
        psize, msize = ccr >> 8 & 3, ccr >> 10 & 3
        if psize != msize or psize not in _SIZES:
            self._fail(f"channel {channel}: PSIZE {psize} and MSIZE {msize} differ (packing is not modelled)")
        if self.regs.get(self.dmamux + 4 * (channel - 1), 0) & 0x7F:
            self._fail(f"channel {channel}: DMAMUX1 channel {channel - 1} routes a request to a memory-to-memory "
                       "channel")
        self._check_transfer(cpar, cmar, cndtr, _SIZES[psize])
        self.running[channel] = (cpar, cmar, cndtr, _SIZES[psize])
        self._started(channel)
        if ccr >> 1 & 1:  # TCIE
            self.interrupting.add(channel)

    def _flags_of(self, channel: int) -> int:
        return self.base  # ISR

    def _complete(self, channel: int) -> None:
        self._ended(channel)
        self._copy(*self.running.pop(channel))
        self.interrupting.discard(channel)
        self.regs[self.base] = self.regs.get(self.base, 0) | 0b11 << 4 * (channel - 1)  # GIF, TCIF
        self.regs[self.base + 0x08 + 0x14 * (channel - 1) + 0x04] = 0  # CNDTR; EN stays set


def dma_model(board: Board, memory: MemoryAccess, rcc: Callable[[int], int]) -> _Controller:
    """The register model of the controller ``board``'s runtime driver copies with."""
    return ChannelDma(board, memory, rcc) if board.data.family == "L4" else StreamDma(board, memory, rcc)
