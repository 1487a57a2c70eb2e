"""Host-driven runs of the cross-compiled model on an emulated Cortex-M (Unicorn).

The generated C and the runtime are cross-compiled with Debian's arm-none-eabi-gcc for the
board's core into an ELF laid out by ``runtime/emulator/emulator.ld`` (code and constants in
flash, data in SRAM). The host loads the ELF into Unicorn, writes the inputs into SRAM, calls
``stm32dvfs_model_run`` and reads the outputs back, like microTVM's host-driven mode with the
device replaced by an instruction-level emulator.

Instructions are counted per translated basic block (decoded once with capstone), not per
instruction, and attributed to the (layer, phase) the firmware announced last through
``stm32dvfs_layer_begin`` / ``stm32dvfs_phase`` (hooked at their entry addresses). IT-block
instructions whose condition fails still issue on the core and are counted, as the block
decode includes them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..boards.board import MemoryMap
from ..csources import CSources
from ..errors import Stm32DvfsError, ToolchainError
from ..resources import data_dir
from ..vocabulary import ACCESS, CFLAGS, CORE_FLAGS, EXECUTE, PHASE_OF_ID, PLAIN, STACK_BYTES, dma_mode


#: Instruction classes counted for the cycle model (sim/cycles.py).
INSTRUCTION_CLASSES = ("load", "store", "mac", "branch", "fp", "other")
_MAC_MNEMONICS = ("mul", "mla", "mls", "smla", "smlsd", "smul", "smull", "umull", "umlal", "smmul", "smmla",
                  "smmls", "sdiv", "udiv", "smuad", "smusd", "usad")


def instruction_class(mnemonic: str) -> str:
    """The cycle-model class of a Thumb-2 mnemonic (condition and width suffixes ignored)."""
    m = mnemonic.lower().split(".")[0]
    if m.startswith("v"):
        return "fp"
    if m.startswith(("ldr", "ldm", "ldrex")) or m == "pop":
        return "load"
    if m.startswith(("str", "stm", "strex")) or m == "push":
        return "store"
    if m.startswith(_MAC_MNEMONICS):
        return "mac"
    if m in ("b", "bl", "bx", "blx", "cbz", "cbnz", "tbb", "tbh") or (
        m.startswith("b") and len(m) == 3 and m[1:] in ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc",
                                                        "hi", "ls", "ge", "lt", "gt", "le", "al")
    ):
        return "branch"
    return "other"


@dataclass(frozen=True)
class EmulatedRun:
    """One inference in the emulator: outputs (as ``run_host`` returns them) and counts."""

    outputs: object
    instructions: int
    #: executed instructions per (layer index, phase name); layer -1 is the entry/exit code
    by_phase: dict[tuple[int, str], int] = field(default_factory=dict)
    #: data accesses per (layer, phase, region, "read"/"write") when counted (count_memory=True)
    memory: dict[tuple[int, str, str, str], int] = field(default_factory=dict)
    #: executed instructions per (layer, phase) and class (INSTRUCTION_CLASSES)
    classes: dict[tuple[int, str], dict[str, int]] = field(default_factory=dict)
    #: per layer, how often its phase changed between access and execute (a DVFS plan with two
    #: states for the layer switches the clock that many times)
    switches: dict[int, int] = field(default_factory=dict)
    #: with clock tracking: (layer, phase, ClockSnapshot) in execution order, and the plan
    #: handler's status (0, or the first failed switch's error)
    clock_trace: tuple = ()
    clock_status: int = 0
    #: bytes the DMA controller moved per layer (board builds of a model with DMA tiles, whose
    #: runtime drives the board's DMA controller against the register model of :mod:`.dma`)
    dma_bytes: dict[int, int] = field(default_factory=dict)
    #: DMA transfers per layer, how many of them ran on while the core went on to another phase
    #: (the overlap mode), and how often the core slept (WFI) waiting for one
    dma_transfers: dict[int, int] = field(default_factory=dict)
    #: the items (bus transactions: words, or bytes where an end is not word-aligned) they moved
    dma_items: dict[int, int] = field(default_factory=dict)
    dma_overlapped: dict[int, int] = field(default_factory=dict)
    dma_sleeps: dict[int, int] = field(default_factory=dict)

    def phase_counts(self, decoupled: set[int]) -> dict[tuple[int, str], tuple[dict[str, int], int]]:
        """Per (layer, phase): instruction classes and flash data reads (count_memory runs).

        The few instructions a decoupled layer runs before its first phase call (call,
        prologue) are counted as "plain"; they run in the layer's first state, its access
        state, so they are merged into "access" here — what a plan switches on."""
        def phase_of(layer: int, phase: str) -> str:
            return "access" if layer in decoupled and phase == "plain" else phase

        out: dict[tuple[int, str], tuple[dict[str, int], int]] = {}
        for (layer, phase), classes in self.classes.items():
            if layer < 0:
                continue
            key = (layer, phase_of(layer, phase))
            merged, reads = out.get(key, ({}, 0))
            merged = dict(merged)
            for name, n in classes.items():
                merged[name] = merged.get(name, 0) + n
            out[key] = (merged, reads)
        for (layer, phase, region, access), n in self.memory.items():
            if layer >= 0 and region == "flash" and access == "read":
                key = (layer, phase_of(layer, phase))
                merged, reads = out.get(key, ({}, 0))
                out[key] = (merged, reads + n)
        return out

    def layer_instructions(self, layer: int) -> int:
        return sum(n for (lay, _), n in self.by_phase.items() if lay == layer)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(
            f"{name} not found: install Debian's gcc-arm-none-eabi and libnewlib-arm-none-eabi (make test does)"
        )
    return path


def cross_compile(sources: CSources, core: str = "cortex-m7", memory: MemoryMap = MemoryMap(),
                  out_dir: Path | None = None, defines: Sequence[str] = (), keep: Sequence[str] = ()) -> Path:
    """Build the model + runtime into an ELF for ``core`` (cached by content in a temp dir);
    ``defines`` are preprocessor macros (``NAME`` or ``NAME=VALUE``), ``keep`` symbols the link
    must keep besides the model's entry point."""
    if core not in CORE_FLAGS:
        raise ToolchainError(f"no cross-compilation flags for core '{core}' (known: {', '.join(CORE_FLAGS)})")
    key = (sorted(sources.files.items()), core, CORE_FLAGS[core], CFLAGS, memory, STACK_BYTES, tuple(defines),
           tuple(keep))
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:24]
    out_dir = out_dir or Path(tempfile.gettempdir()) / "stm32dvfs-emu" / digest
    elf = out_dir / "model.elf"
    if elf.exists():
        return elf
    cc = _tool("arm-none-eabi-gcc")
    work = Path(tempfile.mkdtemp(prefix="emu-build-"))
    flags = [*CORE_FLAGS[core], *CFLAGS, *(f"-D{d}" for d in defines)]
    # the objects too are cached by content: plans of one model differ in a file or two (the plan
    # table, a tiled kernel), and the runtime's files are the same in every build
    headers = hashlib.sha256(repr((sorted((n, t) for n, t in sources.files.items() if not n.endswith(".c")),
                                   flags)).encode())
    objects = Path(tempfile.gettempdir()) / "stm32dvfs-emu" / "objects"
    try:
        sources.write(work)
        objs = []
        for c_file in sources.c_files:
            digest = headers.copy()
            digest.update(sources.files[c_file].encode())
            cached = objects / f"{digest.hexdigest()[:32]}.o"
            obj = work / (c_file + ".o")
            if cached.exists():
                shutil.copy(cached, obj)
            else:
                _run([cc, *flags, "-I", str(work), "-c", str(work / c_file), "-o", str(obj)])
                objects.mkdir(parents=True, exist_ok=True)
                tmp = objects / f".{cached.name}.{os.getpid()}"
                shutil.copy(obj, tmp)
                tmp.replace(cached)
            objs.append(str(obj))
        defs = {
            "FLASH_ORIGIN": memory.flash_origin, "FLASH_LENGTH": memory.flash_bytes,
            "RAM_ORIGIN": memory.ram_origin, "RAM_LENGTH": memory.ram_bytes, "STACK_SIZE": STACK_BYTES,
        }
        link = [cc, *CORE_FLAGS[core], "--specs=nano.specs", "-nostartfiles", "-Wl,--gc-sections",
                "-Wl,-e,stm32dvfs_model_run", "-T", str(data_dir("runtime") / "emulator" / "emulator.ld")]
        link += [f"-Wl,--defsym={k}={v:#x}" for k, v in defs.items()]
        link += [f"-Wl,--undefined={symbol}" for symbol in keep]
        _run(link + objs + ["-lm", "-lc", "-lgcc", "-o", str(work / "model.elf")])
        out_dir.mkdir(parents=True, exist_ok=True)
        # renamed into place: another process building the same ELF must never see it half-written
        tmp = out_dir / f".model.elf.{os.getpid()}"
        shutil.copy(work / "model.elf", tmp)
        tmp.replace(elf)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return elf


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    overflow = re.search(r"region `(\w+)' overflowed by (\d+) bytes", proc.stderr)
    if proc.returncode != 0 and overflow:
        from ..errors import ResourceLimitError

        raise ResourceLimitError(f"the model does not fit the board: {overflow.group(1)} overflows by "
                                 f"{overflow.group(2)} bytes (smaller DAE tiles or a board with more memory)")
    if proc.returncode != 0:
        raise RuntimeError(f"cross-compilation failed:\n{' '.join(cmd)}\n{proc.stderr}")


class Emulator:
    """A loaded ELF in Unicorn, ready to call ``stm32dvfs_model_run``."""

    #: a mapped, never-executed address: the return address of the top-level call
    EXIT_ADDRESS = 0x00001000

    def __init__(self, elf: Path, memory: MemoryMap = MemoryMap(), core: str = "cortex-m7") -> None:
        from elftools.elf.elffile import ELFFile
        from unicorn import UC_ARCH_ARM, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
        import capstone

        self.memory = memory
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        self._set_cpu(core)
        self.uc.mem_map(memory.flash_origin, _page_up(memory.flash_bytes))
        self.uc.mem_map(memory.ram_origin, _page_up(memory.ram_bytes))
        self.uc.mem_map(0, 0x10000)  # the exit trampoline page
        self.symbols: dict[str, int] = {}
        with open(elf, "rb") as f:
            e = ELFFile(f)
            for seg in e.iter_segments():
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                    self.uc.mem_write(seg["p_paddr"] if seg["p_paddr"] == seg["p_vaddr"] else seg["p_vaddr"], seg.data())
            symtab = e.get_section_by_name(".symtab")
            for sym in symtab.iter_symbols():
                if sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE"):
                    self.symbols[sym.name] = sym["st_value"]
        self.cs = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        self._block_sizes: dict[tuple[int, int], tuple[int, ...]] = {}
        self.register_error: Stm32DvfsError | None = None  # a rule a register model saw broken

    def _set_cpu(self, core: str) -> None:
        import unicorn.arm_const as arm

        model = {"cortex-m7": arm.UC_CPU_ARM_CORTEX_M7, "cortex-m4": arm.UC_CPU_ARM_CORTEX_M4}[core]
        self.uc.ctl_set_cpu_model(model)

    def symbol(self, name: str) -> int:
        try:
            return self.symbols[name] & ~1
        except KeyError:
            raise ToolchainError(f"symbol {name} missing from the emulated ELF") from None

    def block_classes(self, address: int, size: int) -> tuple[int, ...]:
        """Instructions of a translated block per class (decoded once, then cached)."""
        key = (address, size)
        vector = self._block_sizes.get(key)
        if vector is None:
            code = bytes(self.uc.mem_read(address, size))
            counts = Counter(instruction_class(m) for _, _, m, _ in self.cs.disasm_lite(code, address))
            vector = tuple(counts.get(c, 0) for c in INSTRUCTION_CLASSES)
            self._block_sizes[key] = vector
        return vector

    def add_block(self, per_class: Counter, address: int, size: int, times: int) -> None:
        """Add ``times`` executions of the block at ``address`` to the counts ``per_class``."""
        for name, n in zip(INSTRUCTION_CLASSES, self.block_classes(address, size)):
            per_class[name] += n * times

    def counted_call(self, function: str, *args: int) -> tuple[int, dict[str, int]]:
        """:meth:`call` with the instructions it executes counted per class."""
        from unicorn import UC_HOOK_BLOCK

        blocks: Counter = Counter()

        def on_block(_uc, address, size, _data):
            blocks[(address, size)] += 1

        hook = self.uc.hook_add(UC_HOOK_BLOCK, on_block)
        self.uc.ctl_flush_tb()  # blocks translated without the hook would not fire it
        try:
            status = self.call(function, *args)
        finally:
            self.uc.hook_del(hook)
        per_class: Counter = Counter()
        for (address, size), times in blocks.items():
            self.add_block(per_class, address, size, times)
        return status, dict(per_class)

    def call(self, function: str, *args: int) -> int:
        """Run one function of the firmware to its return (integer arguments); its r0."""
        import unicorn.arm_const as arm

        uc = self.uc
        uc.reg_write(arm.UC_ARM_REG_SP, self.symbol("__stack_top"))
        for reg, value in zip((arm.UC_ARM_REG_R0, arm.UC_ARM_REG_R1, arm.UC_ARM_REG_R2, arm.UC_ARM_REG_R3), args):
            uc.reg_write(reg, value)
        uc.reg_write(arm.UC_ARM_REG_LR, self.EXIT_ADDRESS | 1)
        start = self.symbol(function) | 1
        try:
            while True:
                uc.emu_start(start, self.EXIT_ADDRESS)
                self._raise_register_error()
                pc = int(uc.reg_read(arm.UC_ARM_REG_PC))
                if pc == self.EXIT_ADDRESS:
                    break
                self._wake(pc)  # Unicorn returns when the core sleeps
                start = pc | 1
        finally:
            self._raise_register_error()  # a broken clock or DMA rule is the cause of what follows
        return int(uc.reg_read(arm.UC_ARM_REG_R0))

    def _wake(self, pc: int) -> None:
        """The core stopped before ``pc`` in WFI: what would wake it happens (the DMA model
        completes the transfers whose interrupt is enabled); without it the board would sleep
        forever."""
        import unicorn.arm_const as arm

        if bytes(self.uc.mem_read(pc - 2, 2)) != b"\x30\xbf":  # WFI (T1 encoding 0xBF30)
            raise ToolchainError(f"the emulation stopped at {pc:#010x}, not at its exit or in WFI")
        if getattr(self, "dma", None) is None:
            raise Stm32DvfsError(f"the firmware sleeps (WFI at {pc - 2:#010x}) with nothing modelled to wake it")
        self.dma.sleep(int(self.uc.reg_read(arm.UC_ARM_REG_PRIMASK)))

    def track_clocks(self, model) -> None:
        """Map the clock registers onto ``model`` (see :mod:`.clocks`): reads show its status
        bits, writes go through its rule checker."""
        self.clocks = model
        self.unmodelled_registers: dict[int, int] = {}  # registers of those pages the model does not track
        self._map_registers(model, self.unmodelled_registers)

    def track_dma(self, model) -> None:
        """Map the DMA controller's registers onto ``model`` (see :mod:`.dma`): the firmware's
        driver configures it, the model checks its rules and copies."""
        self.dma = model
        self._map_registers(model, {})

    def _map_registers(self, model, other: dict[int, int]) -> None:
        """``model``'s pages as MMIO: the registers it tracks go to it, the rest of the pages to
        ``other``. A broken rule (a ``Stm32DvfsError`` of the model) stops the run; :meth:`call`
        raises it. (MMIO callbacks, not memory hooks that rewrite the page on every read: with the
        flash read hooks of ``count_memory`` those corrupted Unicorn's translated code.)"""

        def current(address: int) -> int:
            return int(model.read(address)) if model.tracks(address) else other.get(address, 0)

        def read(_uc, offset, size, page):
            shift = 8 * (offset & 3)
            return (current(page + (offset & ~3)) >> shift) & ((1 << (8 * size)) - 1)

        def write(uc, offset, size, value, page):
            address = page + (offset & ~3)
            if size != 4:  # byte and half-word writes merge into the word
                shift = 8 * (offset & 3)
                mask = ((1 << (8 * size)) - 1) << shift
                value = (current(address) & ~mask) | ((value << shift) & mask)
            if not model.tracks(address):
                other[address] = value
                return
            try:
                model.write(address, value)
            except Stm32DvfsError as exc:
                if self.register_error is None:
                    self.register_error = exc
                uc.emu_stop()

        for page in model.pages:
            self.uc.mmio_map(page, 0x1000, read, page, write, page)

    def _raise_register_error(self) -> None:
        error, self.register_error = self.register_error, None
        if error is not None:
            raise error

    def run_model(self, inputs: Sequence[np.ndarray], output_specs, count_memory: bool = False,
                  regions: Sequence[str] | None = None) -> tuple[list[np.ndarray], dict, Counter, dict]:
        """Call ``stm32dvfs_model_run`` once; returns the outputs, the instructions per (layer,
        phase) and class, the data accesses per (layer, phase, region, kind) when ``count_memory``
        (a Python callback per access, so several times slower; ``regions`` limits it, e.g. to
        ``("flash",)``), and the access <-> execute switches per layer."""
        uc = self.uc
        # inputs, outputs and the two pointer arrays live in a page of their own, apart from
        # anything the firmware uses (the linker script ends RAM with the stack)
        scratch = 0x30000000
        total = sum(int(a.nbytes) for a in inputs) + sum(int(np.prod(s)) * np.dtype(d).itemsize for s, d in output_specs)
        size = _page_up(total + 64 * (len(inputs) + len(output_specs)) + 4096)
        uc.mem_map(scratch, size)
        try:
            in_array, out_array, out_slots = self._place_io(scratch, inputs, output_specs)
            tracker = _PhaseTracker(getattr(self, "clocks", None))
            hooks = tracker.install(self, count_memory, regions)
            if getattr(self, "dma", None) is not None:
                self.dma.layer = lambda: tracker.key[0]
                self.dma.phase_changes = lambda: tracker.switches[tracker.key[0]]
            uc.ctl_flush_tb()  # blocks translated without the hooks would not fire them
            try:
                status = self.call("stm32dvfs_model_run", in_array, out_array)
                tracker.close_phase()
            finally:
                for h in hooks:
                    uc.hook_del(h)
            self.clock_trace = tracker.clock_trace
            if status != 0:
                raise RuntimeError(f"stm32dvfs_model_run returned {status} in the emulator")
            outputs = [
                np.frombuffer(bytes(uc.mem_read(addr, nbytes)), dtype=dtype).reshape(shape).copy()
                for addr, nbytes, shape, dtype in out_slots
            ]
        finally:
            uc.mem_unmap(scratch, size)
        classes: dict[tuple[int, str], Counter] = {}
        for (layer, phase, address, block_size), times in tracker.blocks.items():
            self.add_block(classes.setdefault((layer, phase), Counter()), address, block_size, times)
        return outputs, classes, tracker.memory, dict(tracker.switches)

    def _place_io(self, cursor: int, inputs, output_specs) -> tuple[int, int, list]:
        """Write the inputs and the two pointer arrays from ``cursor`` on; returns the addresses
        of the input and output pointer arrays and per output (address, bytes, shape, dtype)."""
        uc = self.uc
        in_ptrs, out_ptrs, out_slots = [], [], []
        for a in inputs:
            uc.mem_write(cursor, np.ascontiguousarray(a).tobytes())
            in_ptrs.append(cursor)
            cursor = _align(cursor + a.nbytes, 8)
        for shape, dtype in output_specs:
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            out_ptrs.append(cursor)
            out_slots.append((cursor, nbytes, shape, dtype))
            cursor = _align(cursor + nbytes, 8)
        in_array = cursor
        uc.mem_write(in_array, np.array(in_ptrs or [0], dtype="<u4").tobytes())
        out_array = _align(in_array + 4 * max(1, len(in_ptrs)), 8)
        uc.mem_write(out_array, np.array(out_ptrs or [0], dtype="<u4").tobytes())
        return in_array, out_array, out_slots


class _PhaseTracker:
    """The hooks of one inference: which (layer, phase) runs — the runtime's
    ``stm32dvfs_layer_begin`` and ``stm32dvfs_phase`` calls tell — and what it executes (basic
    blocks), accesses (``memory``), switches between access and execute, and, with a clock
    register model, the clock each phase ran at."""

    def __init__(self, clocks=None):
        self.clocks = clocks
        self.key = (-1, PLAIN)
        self.blocks: Counter = Counter()  # (layer, phase, address, size) -> executions
        self.memory: Counter = Counter()  # (layer, phase, region, kind) -> accesses
        self.switches: Counter = Counter()  # layer -> access <-> execute changes
        self.clock_trace: list = []  # (layer, phase, the clock that phase ran at)

    def close_phase(self) -> None:
        if self.clocks is not None and self.key[0] >= 0:
            self.clock_trace.append((*self.key, self.clocks.snapshot))

    def install(self, emulator: "Emulator", count_memory: bool, regions) -> list:
        from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE
        import unicorn.arm_const as arm

        def on_block(_uc, address, size, _data):
            self.blocks[(*self.key, address, size)] += 1

        def on_layer(uc, _address, _size, _data):
            self.close_phase()
            self.key = (int(uc.reg_read(arm.UC_ARM_REG_R0)), PLAIN)

        def on_phase(uc, _address, _size, _data):
            self.close_phase()
            layer, before = self.key
            after = PHASE_OF_ID.get(int(uc.reg_read(arm.UC_ARM_REG_R0)), PLAIN)
            if {before, after} == {ACCESS, EXECUTE}:
                self.switches[layer] += 1
            self.key = (layer, after)

        uc = emulator.uc
        layer_begin = emulator.symbol("stm32dvfs_layer_begin")
        hooks = [uc.hook_add(UC_HOOK_BLOCK, on_block),
                 uc.hook_add(UC_HOOK_CODE, on_layer, begin=layer_begin, end=layer_begin)]
        if "stm32dvfs_phase" in emulator.symbols:  # absent (garbage-collected) when no kernel is decoupled
            phase = emulator.symbol("stm32dvfs_phase")
            hooks.append(uc.hook_add(UC_HOOK_CODE, on_phase, begin=phase, end=phase))
        if count_memory:
            for region, first, last in emulator.memory.regions():
                if regions is not None and region not in regions:
                    continue
                for kind, hook_type in (("read", UC_HOOK_MEM_READ), ("write", UC_HOOK_MEM_WRITE)):
                    def on_access(_uc, _access, _address, _size, _value, _data, key=(region, kind)):
                        self.memory[(*self.key, *key)] += 1

                    hooks.append(uc.hook_add(hook_type, on_access, begin=first, end=last))
        return hooks


def _page_up(n: int) -> int:
    return (n + 0xFFF) & ~0xFFF


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def emulate(compiled, x, board=None, *, core: str | None = None, memory: MemoryMap | None = None,
            count_memory: bool = False, regions: Sequence[str] | None = None, clocks=None) -> EmulatedRun:
    """Run one inference of ``compiled`` in the emulator; ``x`` as for ``CompiledModel.run_host``.

    ``board`` (a name or :class:`~tvm_stm32dvfs.boards.Board`): its core and memory map, and —
    when the model carries a DVFS plan — its clock driver and register model (``clocks``), so
    the run has a clock trace. Without it: a Cortex-M7 with the default memory map.

    ``clocks``: a :class:`~tvm_stm32dvfs.boards.Board`. The model's DVFS plan is then installed
    and followed by the board's real clock driver, compiled in, against the clock registers of
    :mod:`.clocks`: every switch is checked against the board's rules (``ClockRuleError``) and
    ``clock_trace`` tells the clock each layer phase ran at."""
    if board is not None:
        from ..boards import Board, load

        board = board if isinstance(board, Board) else load(board)
        core = core or board.core
        memory = memory or memory_map(board)
        if clocks is None and "plan.c" in compiled.sources.files:
            clocks = board
    core = core or "cortex-m7"
    memory = memory or MemoryMap()
    arrays = compiled._input_arrays(x)
    defines: list[str] = []
    keep: list[str] = []
    if clocks is not None and "plan.c" not in compiled.sources.files:
        raise Stm32DvfsError("emulate(clocks=...) needs a model built with a DVFS plan (build(latency_ms=...))")
    # the board's runtime (its clock and DMA drivers) for a plan to follow or DMA tiles to copy
    target = clocks if clocks is not None else (board if board is not None and uses_dma(compiled) else None)
    if target is not None:
        defines = board_defines(target)
    if clocks is not None:
        keep = ["stm32dvfs_plan_install", "stm32dvfs_model_plan", "stm32dvfs_plan_status"]
    elf = cross_compile(compiled.sources, core=core, memory=memory, defines=defines, keep=keep)
    emu = Emulator(elf, memory=memory, core=core)
    if target is not None:
        from .clocks import clock_model
        from .dma import dma_model

        emu.track_clocks(clock_model(target))  # also where the DMA clock enable bits are
        emu.track_dma(dma_model(target, (lambda a, n: bytes(emu.uc.mem_read(a, n)), emu.uc.mem_write),
                                lambda a: emu.unmodelled_registers.get(a, 0)))
    if clocks is not None:
        emu.call("stm32dvfs_plan_install", emu.symbol("stm32dvfs_model_plan"))
    outputs, classes, accesses, switches = emu.run_model(arrays, [(o.shape, o.dtype) for o in compiled.outputs],
                                               count_memory=count_memory, regions=regions)
    by_phase = {key: sum(per.values()) for key, per in classes.items()}
    return EmulatedRun(
        outputs=outputs[0] if len(outputs) == 1 else outputs,
        instructions=sum(by_phase.values()),
        by_phase=by_phase,
        memory=dict(accesses),
        classes={key: dict(per) for key, per in classes.items()},
        switches=switches,
        clock_trace=tuple(getattr(emu, "clock_trace", ())),
        clock_status=emu.call("stm32dvfs_plan_status") if clocks is not None else 0,
        dma_bytes=dict(emu.dma.bytes_by_layer) if target is not None else {},
        dma_transfers=dict(emu.dma.transfers_by_layer) if target is not None else {},
        dma_items=dict(emu.dma.items_by_layer) if target is not None else {},
        dma_overlapped=dict(emu.dma.overlapped_by_layer) if target is not None else {},
        dma_sleeps=dict(emu.dma.sleeps_by_layer) if target is not None else {},
    )


def board_defines(board) -> list[str]:
    """The macros of a board build: the runtime compiles the board family's clock and DMA drivers."""
    return ["STM32DVFS_PLATFORM_BOARD", f"STM32DVFS_FAMILY_{board.data.family}"]


def uses_dma(compiled) -> bool:
    """Whether a kernel of ``compiled`` copies by DMA (a tile granularity with ``dma``)."""
    return any(kernel.decoupled and dma_mode(kernel.granularity) for kernel in compiled.lowered.kernels.values())


def memory_map(board) -> MemoryMap:
    """The board's memory map (:attr:`~tvm_stm32dvfs.boards.Board.memory_map`)."""
    return board.memory_map
