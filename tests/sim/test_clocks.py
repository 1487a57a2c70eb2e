"""The clock driver under the emulator's register model: plans followed, rules enforced."""

from __future__ import annotations

import numpy as np
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.codegen import CSources, emit_sources
from tvm_stm32dvfs.driver import _bind_params
from tvm_stm32dvfs.sim.clocks import F4F7_FLASH, F4F7_PWR, F4F7_RCC, ClockRuleError, clock_model
from tvm_stm32dvfs.sim.emulator import emulate, memory_map
from tvm_stm32dvfs.models.zoo import ZOO
from tvm_stm32dvfs.optimize.from_profile import LayerChoice
from tvm_stm32dvfs.optimize.apply import apply_plan

BOARDS = ["stm32f746g-disco", "nucleo-f767zi", "nucleo-f411re", "nucleo-h743zi2", "nucleo-l4r5zi"]


def test_register_model_catches_a_frequency_raised_before_the_wait_states():
    model = clock_model(tvm_stm32dvfs.boards.load("stm32f746g-disco"))
    model.write(F4F7_RCC, model.regs[F4F7_RCC] | 1 << 16)  # HSE on
    model.write(F4F7_RCC + 0x04, 25 | 360 << 6 | 0 << 16 | 1 << 22)  # 25 MHz / 25 * 360 / 2 = 180 MHz (scale 1)
    model.write(F4F7_RCC, model.regs[F4F7_RCC] | 1 << 24)  # PLL on
    with pytest.raises(ClockRuleError, match="wait states must go up before"):
        model.write(F4F7_RCC + 0x08, 2)  # SYSCLK = PLL with 0 wait states


def test_register_model_catches_pll_and_scale_changes_while_the_pll_runs():
    model = clock_model(tvm_stm32dvfs.boards.load("stm32f746g-disco"))
    model.write(F4F7_RCC + 0x04, 16 | 200 << 6 | 1 << 16)  # HSI / 16 * 200 / 4 = 50 MHz
    model.write(F4F7_RCC, model.regs[F4F7_RCC] | 1 << 24)
    with pytest.raises(ClockRuleError, match="PLL reconfigured while it is on"):
        model.write(F4F7_RCC + 0x04, 16 | 300 << 6 | 1 << 16)
    with pytest.raises(ClockRuleError, match="voltage scale changed while the PLL is on"):
        model.write(F4F7_PWR, 1 << 14)


def test_register_model_accepts_the_documented_sequence():
    model = clock_model(tvm_stm32dvfs.boards.load("stm32f746g-disco"))
    model.write(F4F7_FLASH, 7)
    model.write(F4F7_RCC, model.regs[F4F7_RCC] | 1 << 16)
    model.write(F4F7_RCC + 0x04, 25 | 432 << 6 | 1 << 22)
    model.write(F4F7_RCC, model.regs[F4F7_RCC] | 1 << 24)
    model.write(F4F7_PWR + 0x00, model.regs[F4F7_PWR] | 1 << 16)  # over-drive on...
    model.write(F4F7_PWR + 0x00, model.regs[F4F7_PWR] | 1 << 17)  # ...then switch
    model.write(F4F7_RCC + 0x08, 2)
    assert model.snapshot.hz == 216e6 and model.snapshot.overdrive and model.snapshot.wait_states == 7


@pytest.fixture(scope="module")
def kws():
    mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].int8_path)
    return _bind_params(mod, params)


def _planned(kws, board):
    """Every decoupled layer switches between a slow access and a fast execute state, plain layers
    alternate between three states: all kinds of switches, PLL relocks and scale changes."""
    states = board.candidate_states()
    slow, mid, fast = states[0].id, states[len(states) // 2].id, states[-1].id
    plain = tvm_stm32dvfs.build(kws, target=f"stm32dvfs-{board.name}", dae=False)
    plan = []
    for layer in plain.layers:
        if layer.op in ("conv2d", "depthwise_conv2d"):
            plan.append(LayerChoice(f"{layer.output_shapes[0][2]}x{layer.output_shapes[0][1]}", slow, fast))
        else:
            state = (slow, mid, fast)[layer.index % 3]
            plan.append(LayerChoice("plain", state, state))
    lowered = apply_plan(kws, plan)
    sources = emit_sources(lowered, model_name="kws", board=board.name, plan_initial_state=mid)
    compiled = tvm_stm32dvfs.CompiledModel(board=board.name, lowered=lowered, sources=sources, model_name="kws")
    return compiled, plan, plain


@pytest.mark.emulator
@pytest.mark.parametrize("board_name", BOARDS)
def test_the_driver_follows_the_plan_within_the_rules(kws, board_name):
    board = tvm_stm32dvfs.boards.load(board_name)
    compiled, plan, plain = _planned(kws, board)
    x = np.random.default_rng(3).standard_normal(plain.inputs[0].shape).astype(np.float32)
    run = emulate(compiled, x, core=board.core, memory=memory_map(board), clocks=board)
    np.testing.assert_array_equal(run.outputs, plain.run_host(x))
    assert run.clock_status == 0
    assert {layer for layer, _, _ in run.clock_trace} == set(range(len(plan)))
    assert len({snapshot.hz for _, _, snapshot in run.clock_trace}) == 3
    for layer, phase, snapshot in run.clock_trace:
        choice = plan[layer]
        want = board.state(choice.execute_state if phase == "execute" else choice.access_state)
        assert (snapshot.hz, snapshot.wait_states) == (want.hz, want.wait_states), (layer, phase)
        assert snapshot.scale == want.scale


@pytest.mark.emulator
def test_a_driver_that_speeds_up_before_raising_wait_states_is_caught(kws):
    board = tvm_stm32dvfs.boards.load("stm32f746g-disco")
    compiled, _, plain = _planned(kws, board)
    driver = compiled.sources.files["stm32dvfs_clock.c"]
    step = "  /* 1. wait states up first */\n"
    assert step in driver
    broken = driver.replace(step, step + "  if (0)\n")  # the deliberate bug: never raise them first
    files = dict(compiled.sources.files, **{"stm32dvfs_clock.c": broken})
    wrong = tvm_stm32dvfs.CompiledModel(board=board.name, lowered=compiled.lowered, sources=CSources(files))
    x = np.zeros(plain.inputs[0].shape, np.float32)
    with pytest.raises(ClockRuleError, match="wait states must go up before the clock does"):
        emulate(wrong, x, core=board.core, memory=memory_map(board), clocks=board)


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("board_name", BOARDS)
def test_the_exported_board_firmware_follows_the_plan_within_the_rules(kws, board_name, tmp_path, tool):
    """The firmware CMake builds for the board itself (not the emulator's own build), loaded in
    Unicorn with the register model: plan installed, one inference, every switch checked."""
    import subprocess

    from tvm_stm32dvfs.sim.emulator import Emulator

    tool("arm-none-eabi-gcc")
    board = tvm_stm32dvfs.boards.load(board_name)
    compiled, plan, plain = _planned(kws, board)
    project = tmp_path / "project"
    compiled.export_project(project, repeat=1)
    build = project / "build"
    for cmd in (["cmake", "-S", str(project), "-B", str(build), "-DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake"],
                ["cmake", "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=project, timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    emu = Emulator(build / "firmware.elf", memory=memory_map(board), core=board.core)
    emu.track_clocks(clock_model(board))
    emu.call("stm32dvfs_plan_install", emu.symbol("stm32dvfs_model_plan"))
    x = np.random.default_rng(3).standard_normal(plain.inputs[0].shape).astype(np.float32)
    outputs, *_ = emu.run_model([x], [(o.shape, o.dtype) for o in plain.outputs])
    np.testing.assert_array_equal(outputs[0], plain.run_host(x))
    assert emu.call("stm32dvfs_plan_status") == 0
    for layer, phase, snapshot in emu.clock_trace:
        choice = plan[layer]
        want = board.state(choice.execute_state if phase == "execute" else choice.access_state)
        assert (snapshot.hz, snapshot.wait_states, snapshot.scale) == (want.hz, want.wait_states, want.scale)
    assert len({snapshot.hz for _, _, snapshot in emu.clock_trace}) == 3


#: per family, from the reference manuals: (GPIO port 0 base, port stride), console registers
#: (status, transmit, baud-rate, control offsets; control enable bits; BRR scale) and where the
#: console's bus prescaler lives — an independent reading of what stm32dvfs_board_io.c drives
_IO = {
    "F4": ((0x40020000, 0x400), (0x00, 0x04, 0x08, 0x0C, (1 << 13) | (1 << 3), 1)),
    "F7": ((0x40020000, 0x400), (0x1C, 0x28, 0x0C, 0x00, 0b1001, 1)),
    "H7": ((0x58020000, 0x400), (0x1C, 0x28, 0x0C, 0x00, 0b1001, 1)),
    "L4": ((0x48000000, 0x400), (0x1C, 0x28, 0x0C, 0x00, 0b1001, 256)),
}
_UART = {"USART1": (0x40011000, 2), "USART2": (0x40004400, 1), "USART3": (0x40004800, 1), "LPUART1": (0x40008000, 1)}


DWT_CYCCNT = 0xE0001004


def _cycle_counter():
    """What the firmware reads from DWT_CYCCNT: 1000 cycles more at every read."""
    count = [0]

    def read() -> int:
        count[0] += 1000
        return count[0] & 0xFFFFFFFF

    return read


def _bus_hz(board, registers: dict, cpu_hz: float, bus: int) -> float:
    """The console's kernel clock from the prescaler fields the firmware left (RM0383/RM0385
    RCC_CFGR.PPREx, RM0433 RCC_D1CFGR.HPRE and RCC_D2CFGR.D2PPREx, RM0432 RCC_CFGR.PPREx)."""
    def apb(bits):
        return 1 if bits < 4 else 1 << (bits - 3)

    family = board.data.family
    if family in ("F4", "F7"):
        return cpu_hz / apb(registers[0x40023808] >> (13 if bus == 2 else 10) & 7)
    if family == "L4":
        return cpu_hz / apb(registers[0x40021008] >> (11 if bus == 2 else 8) & 7)
    hpre = registers.get(0x58024418, 0) & 0xF
    ahb = 1 if hpre < 8 else (1 << (hpre - 7) if hpre - 7 < 5 else 1 << (hpre - 6))
    return cpu_hz / ahb / apb(registers.get(0x5802441C, 0) >> (8 if bus == 2 else 4) & 7)


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("board_name", BOARDS)
def test_the_board_firmware_reports_over_the_vcp_and_marks_every_phase(kws, board_name, tmp_path, tool):
    """The profiling build for the board, in Unicorn with the clock registers and a recorder on
    the console U(S)ART and the GPIO ports: the report (outputs, then the CSV of cycles per layer
    and phase) goes out over the ST-LINK VCP peripheral exactly as the host build prints it,
    the U(S)ART is set up for 115200 baud on its TX pin, and the marker pin toggles at every
    phase event."""
    import subprocess

    from tvm_stm32dvfs.sim.emulator import Emulator

    tool("arm-none-eabi-gcc")
    board = tvm_stm32dvfs.boards.load(board_name)
    compiled, plan, _ = _planned(kws, board)
    project = tmp_path / "project"
    compiled.export_project(project, repeat=1)
    builds = {}
    for platform, options in (("board", ["-DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake", "-DSTM32DVFS_PROFILE=ON"]),
                              ("host", [])):
        build = project / f"build-{platform}"
        for cmd in (["cmake", "-S", ".", "-B", str(build), f"-DSTM32DVFS_PLATFORM={platform}", *options],
                    ["cmake", "--build", str(build)]):
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=project, timeout=900)
            assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        builds[platform] = build
    host = subprocess.run([str(builds["host"] / "firmware")], capture_output=True, text=True, timeout=300)
    assert host.returncode == 0, host.stderr

    (gpio_base, stride), (status, transmit, brr, control, enable, brr_scale) = _IO[board.data.family]
    console, marker = board.data.console, board.data.marker
    uart, bus = _UART[console.peripheral]
    tx_port = gpio_base + stride * console.tx.port
    marker_port = gpio_base + stride * marker.port
    values: dict[int, int] = {}
    sent = bytearray()
    toggles = []
    cycle_counter = _cycle_counter()

    def read(_uc, offset, _size, page):
        address = page + offset
        if address == uart + status:
            return (1 << 7) | (1 << 6)  # TXE, TC: the byte left at once
        if address == DWT_CYCCNT:
            return cycle_counter()
        return values.get(address, 0)

    def write(_uc, offset, _size, value, page):
        address = page + offset
        if address == uart + transmit:
            sent.append(value & 0xFF)
        if address == marker_port + 0x14 and (value ^ values.get(address, 0)) & (1 << marker.pin):
            toggles.append(value >> marker.pin & 1)
        values[address] = value

    emu = Emulator(builds["board"] / "firmware.elf", memory=memory_map(board), core=board.core)
    model = clock_model(board)
    emu.track_clocks(model)
    for page in sorted({uart & ~0xFFF, tx_port & ~0xFFF, marker_port & ~0xFFF, 0xE0001000, 0xE000E000}):
        emu.uc.mmio_map(page, 0x1000, read, page, write, page)
    from unicorn import UC_HOOK_CODE

    events = [0]
    for hook in ("stm32dvfs_layer_begin", "stm32dvfs_phase"):
        address = emu.symbol(hook)
        emu.uc.hook_add(UC_HOOK_CODE, lambda *_: events.__setitem__(0, events[0] + 1), begin=address, end=address)
    assert emu.call("stm32dvfs_app_run") == 0
    text = sent.decode()
    lines = text.splitlines()
    assert lines[:2] == host.stdout.splitlines()[:2]  # status and checksum, the output bytes
    assert lines[2] == "layer,phase,hz,wait_states,cycles"
    rows = [line.split(",") for line in lines[3:]]
    assert {int(r[0]) for r in rows} == set(range(len(plan)))
    for layer, phase, hz, wait_states, measured in rows:
        choice = plan[int(layer)]
        state = board.state(choice.execute_state if phase == "execute" else choice.access_state)
        assert (int(hz), int(wait_states)) == (round(state.hz), state.wait_states) and int(measured) > 0
    # the console: enabled, its TX pin in its alternate function, 115200 baud from its bus clock
    registers = {**model.regs, **emu.unmodelled_registers}
    cpu_hz = model.snapshot.hz
    assert values[uart + control] & enable == enable
    assert values[tx_port] >> (2 * console.tx.pin) & 3 == 2
    afr = values[tx_port + (0x20 if console.tx.pin < 8 else 0x24)]
    assert afr >> (4 * (console.tx.pin & 7)) & 0xF == console.tx.af
    baud = brr_scale * _bus_hz(board, registers, cpu_hz, bus) / values[uart + brr]
    assert baud == pytest.approx(console.baud, rel=0.01)
    # the marker: an output, toggled once per phase event
    assert values[marker_port] >> (2 * marker.pin) & 3 == 1
    assert len(toggles) == events[0] > len(plan)


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("board_name", BOARDS)
def test_the_board_link_application_answers_frames_over_the_vcp(kws, board_name, tmp_path, tool):
    """The link application `stm32dvfs run` flashes (-DSTM32DVFS_LINK=ON, profiling), built for
    the board, in Unicorn with the clock registers and the console U(S)ART modelled receive side
    included: input frames fed to its receive register are answered with the host build's
    outputs, status 0, the plan's clock switches and the cycles per layer and phase at the plan's
    states; a garbled frame is refused and the link goes on; the receiver is on its RX pin, and
    every byte leaves at 115200 baud whatever clock the plan left the core in."""
    from tvm_stm32dvfs.project.build import build_project
    from tvm_stm32dvfs.project.link import Link
    from tvm_stm32dvfs.project.protocol import FrameKind, encode
    from tvm_stm32dvfs.sim.calibrate import parse_measurements
    from tvm_stm32dvfs.sim.emulator import Emulator

    tool("arm-none-eabi-gcc")
    board = tvm_stm32dvfs.boards.load(board_name)
    compiled, plan, plain = _planned(kws, board)
    project = tmp_path / "project"
    compiled.export_project(project, repeat=1)
    elf = build_project(project, "board", link=True, profile=True)

    class EmulatedLink(Link):
        where = "the board in Unicorn"

        def __init__(self):
            self.sent, self.received = bytearray(), bytearray()
            super().__init__(compiled, profile=True, timeout_s=0.5)

        def _read(self, n):
            chunk = bytes(self.sent[:n])
            del self.sent[:n]
            return chunk

        def write(self, data):
            self.received += data

    link = EmulatedLink()
    (gpio_base, stride), (status, transmit, brr, control, enable, brr_scale) = _IO[board.data.family]
    receive = 0x04 if board.data.family == "F4" else 0x24
    console = board.data.console
    uart, bus = _UART[console.peripheral]
    rx_port = gpio_base + stride * console.rx.port
    values: dict[int, int] = {}
    bauds = []
    cycle_counter = _cycle_counter()
    emu = Emulator(elf, memory=memory_map(board), core=board.core)
    model = clock_model(board)
    emu.track_clocks(model)

    def read(uc, offset, _size, page):
        address = page + offset
        if address == DWT_CYCCNT:
            return cycle_counter()
        if address == uart + status:
            return (1 << 7) | (1 << 6) | ((1 << 5) if link.received else 0)  # TXE, TC, RXNE
        if address == uart + receive:
            if not link.received:
                uc.emu_stop()  # the firmware waits for a byte the test never sends
                return 0
            byte = link.received[0]
            del link.received[0]
            return byte
        return values.get(address, 0)

    def write(_uc, offset, _size, value, page):
        address = page + offset
        if address == uart + transmit:
            link.sent.append(value & 0xFF)
            registers = {**model.regs, **emu.unmodelled_registers}
            bauds.append(brr_scale * _bus_hz(board, registers, model.snapshot.hz, bus) / values[uart + brr])
        values[address] = value

    for page in sorted({uart & ~0xFFF, rx_port & ~0xFFF, gpio_base + stride * console.tx.port & ~0xFFF,
                        0xE0001000, 0xE000E000}):
        emu.uc.mmio_map(page, 0x1000, read, page, write, page)

    emu.call("stm32dvfs_link_app_start")
    link.ready()
    assert link.firmware_profiles
    link.write(encode(FrameKind.READY, link.model, b""))  # a host reconnecting: the firmware announces itself
    assert emu.call("stm32dvfs_link_app_serve") == 0xFFFFFFFA  # -STM32DVFS_FRAME_HELLO
    link.ready()
    rng = np.random.default_rng(8)
    for n in range(2):
        x = rng.standard_normal(plain.inputs[0].shape).astype(np.float32)
        for array in compiled._input_arrays(x):
            link.write(encode(FrameKind.INPUT, link.model, array.tobytes()))
        assert emu.call("stm32dvfs_link_app_serve") == 0
        answer = link.answer()
        np.testing.assert_array_equal(answer.outputs[0], plain.run_host(x))
        assert answer.status == 0 and answer.clock_switches >= len(plan)
        rows = parse_measurements(answer.csv, "the board's cycles")
        assert {r.layer for r in rows} == set(range(len(plan)))
        for r in rows:
            choice = plan[r.layer]
            state = board.state(choice.execute_state if r.phase == "execute" else choice.access_state)
            assert (r.hz, r.wait_states) == (round(state.hz), state.wait_states) and r.cycles > 0
    # a garbled input: refused with the CRC's error, and the firmware serves on
    frame = bytearray(encode(FrameKind.INPUT, link.model, compiled._input_arrays(x)[0].tobytes()))
    frame[30] ^= 0x40
    link.write(bytes(frame))
    assert emu.call("stm32dvfs_link_app_serve") == 0xFFFFFFFF  # -STM32DVFS_FRAME_BAD_CRC
    with pytest.raises(tvm_stm32dvfs.errors.BoardLinkError, match="an input frame arrived garbled"):
        link.answer()
    link.write(encode(FrameKind.INPUT, link.model, compiled._input_arrays(x)[0].tobytes()))
    assert emu.call("stm32dvfs_link_app_serve") == 0
    np.testing.assert_array_equal(link.answer().outputs[0], plain.run_host(x))
    # the receiver: on (CR1.RE), its pin in the console's alternate function
    assert values[uart + control] & enable == enable and values[uart + control] & (1 << 2)
    assert values[rx_port] >> (2 * console.rx.pin) & 3 == 2
    afr = values[rx_port + (0x20 if console.rx.pin < 8 else 0x24)]
    assert afr >> (4 * (console.rx.pin & 7)) & 0xF == console.rx.af
    assert bauds and all(b == pytest.approx(console.baud, rel=0.01) for b in bauds), sorted(set(round(b) for b in bauds))
