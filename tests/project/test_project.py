"""The exported firmware project: configures and builds warning-free for every board and bundled
int8 model, runs identically under QEMU and on the host, and refuses models that cannot fit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tvm

import tvm_stm32dvfs
from tvm_stm32dvfs.sim.calibrate import read_measurements
from tvm_stm32dvfs.boards import known_boards
from tvm_stm32dvfs.errors import ResourceLimitError
from tvm_stm32dvfs.models.zoo import ZOO

TOOLCHAIN = "-DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake"


def _cmake(project: Path, platform: str, *options: str) -> Path:
    build = project / f"build-{platform}{'-'.join(('',) + options)}"
    extra = ([] if platform == "host" else [TOOLCHAIN]) + list(options)
    for cmd in (["cmake", "-S", str(project), "-B", str(build), f"-DSTM32DVFS_PLATFORM={platform}", *extra],
                ["cmake", "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=project, timeout=900)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return build


def _printed_outputs(text: str, compiled) -> list[np.ndarray]:
    lines = {line.split(" ", 1)[0]: line.split()[1:] for line in text.splitlines() if line.startswith("output")}
    return [np.frombuffer(bytes(int(b, 16) for b in lines[f"output{i}"]), dtype=o.dtype).reshape(o.shape)
            for i, o in enumerate(compiled.outputs)]


@pytest.fixture(scope="module")
def planned_kws():
    mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].int8_path)
    return tvm_stm32dvfs.build(mod, params=params, model_name="kws_int8", latency_ms=80)


@pytest.mark.emulator
def test_qemu_and_host_builds_print_the_host_outputs(planned_kws, tmp_path, tool):
    tool("qemu-system-arm")
    x = np.random.default_rng(5).standard_normal(planned_kws.inputs[0].shape).astype(np.float32)
    planned_kws.export_project(tmp_path / "p", x, repeat=3)
    project = tmp_path / "p"
    assert {"CMakeLists.txt", "README.md"} <= {p.name for p in project.iterdir()}
    assert (project / "model" / "plan.c").is_file() and (project / "board" / "stm32f746g-disco.ld").is_file()
    plan = planned_kws.plan
    states = dict.fromkeys([plan.initial_state] + [s for c in plan.choices for s in (c.key.access_state,
                                                                                      c.key.execute_state)])
    assert f"`model/plan.c`: {len(states)} clock states" in (project / "README.md").read_text()
    want = planned_kws.run_host(x)
    qemu = _cmake(project, "qemu-mps2-an500")
    run = subprocess.run(["qemu-system-arm", "-M", "mps2-an500", "-nographic", "-semihosting", "-kernel",
                          str(qemu / "firmware.elf")], capture_output=True, text=True, timeout=600,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0 and "status 0 inferences 3" in run.stdout, run.stdout + run.stderr
    np.testing.assert_array_equal(_printed_outputs(run.stdout, planned_kws)[0], want)
    host = _cmake(project, "host")
    run = subprocess.run([str(host / "firmware")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0
    np.testing.assert_array_equal(_printed_outputs(run.stdout, planned_kws)[0], want)
    for name in ("firmware.bin", "firmware.hex"):
        assert (qemu / name).stat().st_size > 0
    # the profiling build: same outputs, then the calibration CSV. QEMU has no DWT cycle counter:
    # there SysTick counts, and under -icount shift=5 (32 ns of virtual time per instruction at
    # its 25 MHz SYSCLK) a phase's count is 0.8 x its instructions, those the emulator counts
    profiled = _cmake(project, "qemu-mps2-an500", "-DSTM32DVFS_PROFILE=ON")
    run = subprocess.run(["qemu-system-arm", "-M", "mps2-an500", "-nographic", "-semihosting", "-icount", "shift=5",
                          "-kernel", str(profiled / "firmware.elf")], capture_output=True, text=True, timeout=600,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0 and "layer,phase,hz,wait_states,cycles" in run.stdout
    np.testing.assert_array_equal(_printed_outputs(run.stdout, planned_kws)[0], want)
    csv = tmp_path / "measured.csv"
    csv.write_text(run.stdout[run.stdout.index("layer,phase"):])
    rows = read_measurements(csv)
    emulated = tvm_stm32dvfs.emulate(planned_kws, x)
    decoupled = {i for i, layer in enumerate(planned_kws.layers) if layer.decoupled}
    counts = {key: sum(classes.values()) for key, (classes, _) in emulated.phase_counts(decoupled).items()}
    assert {(r.layer, r.phase) for r in rows} == set(counts) and all(r.hz == 25e6 for r in rows)
    for r in rows:  # the few instructions of the profiler's own handler aside
        assert abs(r.cycles - 0.8 * counts[(r.layer, r.phase)]) <= 0.01 * r.cycles + 40, r
    _cmake(project, "board", "-DSTM32DVFS_PROFILE=ON")  # and it builds warning-free for the board


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("board", known_boards())
def test_every_bundled_int8_model_builds_for_the_board(board, tmp_path, tool):
    """Board platform, -Wall -Wextra -Werror, sections within the board's flash and RAM (the
    linker script has the board's sizes, so a model that does not fit fails to link)."""
    tool("arm-none-eabi-gcc")
    spec = tvm_stm32dvfs.boards.load(board)
    built = 0
    for name in sorted(ZOO):
        mod, params = tvm_stm32dvfs.from_onnx(ZOO[name].int8_path)
        compiled = tvm_stm32dvfs.build(mod, target=f"stm32dvfs-{board}", params=params, model_name=f"{name}_int8")
        project = tmp_path / name
        try:
            compiled.export_project(project, repeat=1)
        except ResourceLimitError as exc:
            assert re.search(r"needs \d+ B of (SRAM|flash)", str(exc)) and board in str(exc)
            continue
        build = _cmake(project, "board")
        sizes = subprocess.run(["arm-none-eabi-size", "-A", str(build / "firmware.elf")], capture_output=True,
                               text=True, check=True).stdout
        section = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\.\w+)\s+(\d+)", sizes, re.M)}
        flash = section[".vectors"] + section[".text"] + section[".rodata"] + section.get(".data", 0)
        assert flash <= spec.flash_bytes
        assert section[".rodata"] >= compiled.weights_bytes  # the weights are in flash
        assert section[".bss"] >= compiled.arena_bytes       # the arena is static RAM
        built += 1
    assert built >= 2 if spec.sram_bytes >= 256 * 1024 else built >= 1


def test_a_model_too_big_for_the_board_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "never"
    big = tvm_stm32dvfs.build(_bigger_model(), target="stm32dvfs-nucleo-f411re", model_name="big")
    with pytest.raises(ResourceLimitError, match=r"needs \d+ B of SRAM .* nucleo-f411re has \d+ B"):
        big.export_project(out)
    assert not out.exists() and not list(tmp_path.iterdir())


def _bigger_model():
    """A float CNN whose activations (2 x 64 x 96 x 96 floats) exceed the F411's 128 KiB SRAM."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((64, 3, 3, 3), 0.01, np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 96, 96])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 96, 96])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    mod, _ = tvm_stm32dvfs.from_onnx(onnx.load_from_string(model.SerializeToString()))
    return mod


@pytest.mark.emulator
@pytest.mark.slow
def test_a_model_with_dma_tiles_builds_for_every_board_and_qemu_copies_by_cpu(tmp_path, tool):
    """The board projects compile the family's DMA driver warning-free (-Werror) for a model whose
    tiles fetch their weights by DMA; the QEMU platform, which has no STM32 DMA, copies by CPU and
    prints the host outputs."""
    from tvm_stm32dvfs import dae
    from tvm_stm32dvfs.driver import _bind_params

    tool("arm-none-eabi-gcc")
    tool("qemu-system-arm")
    mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].int8_path)
    fused = tvm_stm32dvfs.transform.stm32dvfs_pipeline(dae=False)(_bind_params(mod, params))
    chosen = {gv.name_hint: dae.tile_options(dae.kernel_shape(f), 16 * 1024, dma="overlap")[-1].granularity
              for gv, f in fused.functions_items()
              if isinstance(f, tvm.tirx.PrimFunc) and dae.kernel_shape(f) is not None}
    for board in known_boards():
        compiled = tvm_stm32dvfs.build(mod, target=f"stm32dvfs-{board}", params=params, granularity=chosen,
                                       model_name="kws_dma")
        assert "stm32dvfs_dma_prefetch(" in compiled.sources.files["kernels.c"]
        compiled.export_project(tmp_path / board, repeat=1)
        _cmake(tmp_path / board, "board")
    x = np.random.default_rng(6).standard_normal(compiled.inputs[0].shape).astype(np.float32)
    compiled.export_project(tmp_path / "qemu", x, repeat=2)
    qemu = _cmake(tmp_path / "qemu", "qemu-mps2-an500")
    run = subprocess.run(["qemu-system-arm", "-M", "mps2-an500", "-nographic", "-semihosting", "-kernel",
                          str(qemu / "firmware.elf")], capture_output=True, text=True, timeout=600,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0 and "status 0 inferences 2" in run.stdout, run.stdout + run.stderr
    np.testing.assert_array_equal(_printed_outputs(run.stdout, compiled)[0], compiled.run_host(x))


def test_profiling_an_unplanned_build_for_the_board_is_refused_at_configure(tmp_path, tool):
    """The CSV names every phase's clock state: without a plan table the board's profiling build
    would print rows calibrate cannot use, so CMake refuses it, naming the fix; QEMU's is fine."""
    tool("arm-none-eabi-gcc")
    mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].int8_path)
    compiled = tvm_stm32dvfs.build(mod, params=params, model_name="kws")
    compiled.export_project(tmp_path / "p", repeat=1)
    proc = subprocess.run(["cmake", "-S", str(tmp_path / "p"), "-B", str(tmp_path / "b"), TOOLCHAIN,
                           "-DSTM32DVFS_PROFILE=ON"], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "this model has no plan table: export a planned build" in " ".join(proc.stderr.split())
    _cmake(tmp_path / "p", "qemu-mps2-an500", "-DSTM32DVFS_PROFILE=ON")
