"""The clock driver under the emulator's register model: plans followed, rules enforced."""

from __future__ import annotations

import numpy as np
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.codegen import CSources, emit_sources
from tvm_stm32dvfs.driver import _bind_params
from tvm_stm32dvfs.evaluate.clocks import F4F7_FLASH, F4F7_PWR, F4F7_RCC, ClockRuleError, clock_model
from tvm_stm32dvfs.evaluate.emulator import emulate, memory_map
from tvm_stm32dvfs.lower import lower
from tvm_stm32dvfs.models.zoo import ZOO
from tvm_stm32dvfs.optimize.from_profile import LayerChoice
from tvm_stm32dvfs.transform import AnnotateDvfs, DecoupleAccessExecute

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
    lowered = lower(kws, tir_transforms=[AnnotateDvfs(plan), DecoupleAccessExecute()])
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
    driver = compiled.sources.files["stm32dvfs_clock_f4f7.c"]
    step = "  /* 1. wait states up first */\n"
    assert step in driver
    broken = driver.replace(step, step + "  if (0)\n")  # the deliberate bug: never raise them first
    files = dict(compiled.sources.files, **{"stm32dvfs_clock_f4f7.c": broken})
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

    from tvm_stm32dvfs.evaluate.emulator import Emulator

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
