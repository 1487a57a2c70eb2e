"""Host-driven runs (``run_on_board``, ``stm32dvfs run``) with QEMU standing in for the board:
the exported project's link build, several inputs through one boot equal to the host build, the
cycles per layer and phase accepted by calibrate, the calibrate -> re-plan loop; and the errors of
the board path up to where a board would be needed (port, probe, flashing, silence, another
firmware, a firmware too big)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.errors import BoardLinkError, ResourceLimitError, ToolchainError
from tvm_stm32dvfs.models.zoo import ZOO
from tvm_stm32dvfs.project.build import build_project
from tvm_stm32dvfs.project.link import SerialLink
from tvm_stm32dvfs.project.protocol import FrameKind, encode, model_hash
from tvm_stm32dvfs.sim.calibrate import calibrate, read_measurements

KWS = ZOO["kws_dscnn"].int8_path


@pytest.fixture(scope="module")
def kws():
    mod, params = tvm_stm32dvfs.from_onnx(KWS)
    return tvm_stm32dvfs.build(mod, params=params, model_name="kws")


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_the_loop_on_qemu_for_every_bundled_int8_model(name, tmp_path, tool):
    """Three inputs through one boot of the QEMU link build: outputs equal to the host build,
    status 0; the cycles of the first inference (the sample input) written as the calibration CSV
    and accepted by calibrate, which fits them."""
    tool("arm-none-eabi-gcc")
    tool("qemu-system-arm")
    mod, params = tvm_stm32dvfs.from_onnx(ZOO[name].int8_path)
    compiled = tvm_stm32dvfs.build(mod, params=params, model_name=name)
    xs = [compiled.sample_inputs(seed=i) for i in range(3)]
    steps = []
    run = tvm_stm32dvfs.run_on_board(compiled, xs, platform="qemu", profile=True, progress=steps.append)
    assert run.platform == "qemu" and run.port.startswith("/dev/") and run.probe is None
    assert run.status == [0, 0, 0] and run.matches_host == [True, True, True] and run.ok
    for got, x in zip(run.outputs, xs):
        want = compiled.run_host(x)
        for a, b in zip(got, want if isinstance(want, list) else [want]):
            np.testing.assert_array_equal(a, b)
    assert steps[-1] == "inference 3 of 3"
    csv = run.write_csv(tmp_path / f"{name}.csv")
    rows = read_measurements(csv)
    assert {r.layer for r in rows} == set(range(len(compiled.layers)))
    assert all(r.hz == 25_000_000 and r.wait_states == 0 for r in rows)  # QEMU's own clock
    board = tvm_stm32dvfs.boards.load(compiled.board)
    fitted, before, after = calibrate(compiled, board, rows)
    assert after <= before


@pytest.mark.emulator
def test_a_planned_model_reports_its_clock_switches(kws, tool):
    tool("qemu-system-arm")
    mod, params = tvm_stm32dvfs.from_onnx(KWS)
    planned = tvm_stm32dvfs.build(mod, params=params, model_name="kws", latency_ms=40)
    states = [s for c in planned.plan.choices for s in (c.first_state, c.last_state)]
    changes = sum(1 for a, b in zip(states, states[1:]) if a != b)
    run = tvm_stm32dvfs.run_on_board(planned, [planned.sample_inputs(seed=i) for i in range(2)], platform="qemu")
    assert run.ok and run.csv == []
    assert run.clock_switches[0] >= 1  # from the state the plan starts in
    assert run.clock_switches[1] >= changes  # at least a switch per change of state within an inference
    with pytest.raises(BoardLinkError, match="not profiled"):
        run.measurements()


def test_board_errors_before_anything_is_built(kws, stand_in_probes):
    """No port, no such port, a probe not installed, an unknown platform: each its error (the
    command's one-line form: tests/test_cli.py)."""
    with pytest.raises(BoardLinkError, match=r"pass the board's serial port \(--port\)"):
        tvm_stm32dvfs.run_on_board(kws, kws.sample_inputs(), probe="st-flash")
    with pytest.raises(ToolchainError, match="st-flash is not installed: install stlink-tools"):
        tvm_stm32dvfs.run_on_board(kws, kws.sample_inputs(), port="/dev/ttyACM0", probe="st-flash")
    with pytest.raises(ToolchainError, match="no flashing tool found: install openocd"):
        tvm_stm32dvfs.run_on_board(kws, kws.sample_inputs(), port="/dev/ttyACM0")
    with pytest.raises(BoardLinkError, match="unknown platform 'renode'"):
        tvm_stm32dvfs.run_on_board(kws, kws.sample_inputs(), platform="renode")
    stand_in_probes("openocd", "exit 0")
    with pytest.raises(BoardLinkError, match="no such serial port /dev/ttyNOPE: is the board plugged in"):
        tvm_stm32dvfs.run_on_board(kws, kws.sample_inputs(), port="/dev/ttyNOPE")


@pytest.fixture
def pty_port():
    """A pseudo-terminal standing for the board's port: (the path the host opens, the fd the
    "board" writes to)."""
    import tty

    board_fd, host_fd = os.openpty()
    tty.setraw(host_fd)
    tty.setraw(board_fd)
    yield os.ttyname(host_fd), board_fd
    os.close(board_fd)
    os.close(host_fd)


def test_flashing_that_fails_is_named_and_a_silent_board_times_out(kws, tmp_path, stand_in_probes, pty_port, tool):
    """Through the board path with a stand-in probe: the build done, a probe that fails names its
    error; one that succeeds, with nothing answering on the port, ends in the link's timeout."""
    tool("arm-none-eabi-gcc")
    port, _ = pty_port
    stand_in_probes("st-flash", 'echo "Error: Couldn\'t find any ST-Link devices" >&2; exit 1')
    with pytest.raises(BoardLinkError, match=r"st-flash could not flash stm32f746g-disco \(exit 1\): Error: "
                                             r"Couldn't find any ST-Link devices — is the board connected"):
        tvm_stm32dvfs.run_on_board(kws, kws.sample_inputs(), port=port, probe="st-flash", timeout_s=1)
    stand_in_probes("st-flash", f'test -f "$3" && test "$4" = 0x8000000 && echo "$3" > {tmp_path}/flashed')
    with pytest.raises(BoardLinkError, match=f"the board on {port} sent no complete frame header within 1 s"):
        tvm_stm32dvfs.run_on_board(kws, kws.sample_inputs(), port=port, probe="st-flash", timeout_s=1)
    assert (tmp_path / "flashed").read_text().strip().endswith("build-board/firmware.bin")


def test_a_port_answering_for_another_model_is_refused(kws, pty_port):
    """pyserial on the port; the "board" behind it announces another model's firmware."""
    port, board_fd = pty_port
    link = SerialLink(kws, port, timeout_s=5)
    try:
        other = model_hash({"other.c": ""})
        threading.Thread(target=os.write, args=(board_fd, b"boot\r\n" + encode(FrameKind.READY, other, b"profile 0"))).start()
        with pytest.raises(BoardLinkError, match=f"runs another model \\(hash {other.hex()}.*flash the firmware"):
            link.ready()
        # then the right firmware (a build without profiling) answers the host's hello
        threading.Thread(target=os.write, args=(board_fd, encode(FrameKind.READY, link.model, b"profile 0"))).start()
        link.hello()
        assert os.read(board_fd, 100) == encode(FrameKind.READY, link.model, b"")  # the hello the board got
        assert link.firmware_profiles is False
        link.write(encode(FrameKind.INPUT, link.model, b"\x01\x02"))
        assert os.read(board_fd, 100) == encode(FrameKind.INPUT, link.model, b"\x01\x02")
    finally:
        link.close()


def test_a_firmware_too_big_for_the_board_is_a_resource_error(kws, tmp_path, tool):
    """What the export's estimate misses (code on top of the weights) the linker finds: its
    overflow becomes a ResourceLimitError naming the board and the region."""
    tool("arm-none-eabi-gcc")
    project = tmp_path / "project"
    kws.export_project(project)
    script = project / "board" / "stm32f746g-disco.ld"
    text = script.read_text()
    script.write_text(text.replace(f"LENGTH = {tvm_stm32dvfs.boards.load('stm32f746g-disco').flash_bytes}",
                                   "LENGTH = 16384", 1))
    with pytest.raises(ResourceLimitError, match=r"does not fit stm32f746g-disco's FLASH by \d+ B \(linker\)"):
        build_project(project, "board", link=True, board_name="stm32f746g-disco")


def test_a_board_run_is_ok_only_when_every_output_equals_the_host_and_every_status_is_0():
    from tvm_stm32dvfs.project.run import BoardRun

    same, other = [np.arange(4, dtype=np.int8)], [np.arange(4, dtype=np.int8)[::-1].copy()]
    run = BoardRun("stm32f746g-disco", "board", "/dev/ttyACM0", "openocd", outputs=[same, other, same],
                   host_outputs=[same, same, same], status=[0, 0, 3], clock_switches=[2, 0, 0])
    assert run.matches_host == [True, False, True] and not run.ok
    assert BoardRun("b", "qemu", "/dev/pts/1", None, [same], [same], [0], [0]).ok
    assert not BoardRun("b", "qemu", "/dev/pts/1", None, [same], [same], [1], [0]).ok


def test_a_board_flashed_before_is_asked_to_announce_itself(kws, pty_port):
    """run_on_board without flashing: no build, no probe; the firmware answers the hello. A
    profiling run of a firmware built without profiling is refused by name."""
    port, board_fd = pty_port
    fixed = kws.at_clock_state(tvm_stm32dvfs.boards.load(kws.board).max_state().id)
    model = model_hash(fixed.sources.files)

    def board():  # the firmware on the board: READY to the hello, then nothing
        hello = os.read(board_fd, 100)
        assert hello == encode(FrameKind.READY, model, b"")
        os.write(board_fd, encode(FrameKind.READY, model, b"profile 0"))

    thread = threading.Thread(target=board)
    thread.start()
    with pytest.raises(BoardLinkError, match="runs a build of this model without profiling"):
        tvm_stm32dvfs.run_on_board(fixed, fixed.sample_inputs(), port=port, flash_firmware=False, profile=True,
                                   timeout_s=5)
    thread.join()
    with pytest.raises(BoardLinkError, match="running without flashing is for a board"):
        tvm_stm32dvfs.run_on_board(kws, kws.sample_inputs(), platform="qemu", flash_firmware=False)


def test_profiling_on_a_board_needs_a_plan_table(kws):
    """The CSV names every phase's state, which a build without a plan cannot know."""
    with pytest.raises(BoardLinkError, match="profiling on a board needs the clock state of every phase"):
        tvm_stm32dvfs.run_on_board(kws, kws.sample_inputs(), port="/dev/ttyACM0", profile=True)
