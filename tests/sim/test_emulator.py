"""The cross-compiled model in Unicorn: bit-exact with the host build, deterministic counts."""

from __future__ import annotations

import numpy as np
import pytest

import tvm_stm32dvfs

@pytest.mark.emulator
@pytest.mark.parametrize("dae", [False, True], ids=["plain", "dae"])
def test_emulated_outputs_equal_host_and_counts_add_up(int8_model, dae, tool):
    tool("arm-none-eabi-gcc")
    compiled = tvm_stm32dvfs.build(int8_model, dae=dae)
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.standard_normal(compiled.inputs[0].shape).astype(np.float32)
        run = tvm_stm32dvfs.emulate(compiled, x)
        np.testing.assert_array_equal(run.outputs, compiled.run_host(x))
    again = tvm_stm32dvfs.emulate(compiled, x)
    assert again.by_phase == run.by_phase, "instruction counts are deterministic"
    assert sum(run.by_phase.values()) == run.instructions
    assert sum(run.layer_instructions(i) for i in range(-1, len(compiled.layers))) == run.instructions
    for i, layer in enumerate(compiled.layers):
        phases = {p for (lay, p) in run.by_phase if lay == i}
        assert run.layer_instructions(i) > 0
        if layer.decoupled:
            assert {"access", "execute"} <= phases
        else:
            assert phases == {"plain"}


@pytest.mark.emulator
def test_memory_accesses_split_by_region(int8_model):
    compiled = tvm_stm32dvfs.build(int8_model)
    x = np.random.default_rng(5).standard_normal(compiled.inputs[0].shape).astype(np.float32)
    run = tvm_stm32dvfs.emulate(compiled, x, count_memory=True)
    np.testing.assert_array_equal(run.outputs, compiled.run_host(x))
    regions = {region for (_, _, region, _) in run.memory}
    assert {"flash", "tcm"} <= regions
    for i, layer in enumerate(compiled.layers):
        if layer.decoupled:
            # weights are read from flash in the access phase only: the execute phase reads tiles
            assert run.memory.get((i, "access", "flash", "read"), 0) > 0
            assert run.memory.get((i, "execute", "flash", "read"), 0) < run.memory[(i, "access", "flash", "read")]
    # nothing is written to flash
    assert not any(kind == "write" and region == "flash" for (_, _, region, kind) in run.memory)


def test_instruction_classes():
    from tvm_stm32dvfs.sim.emulator import instruction_class

    assert [instruction_class(m) for m in ("ldr.w", "ldrsh", "pop", "str", "push", "smlad", "mul", "bne", "b.w",
                                           "cbz", "bic", "vmla.f32", "add.w", "bx")] == [
        "load", "load", "load", "store", "store", "mac", "mac", "branch", "branch", "branch", "other", "fp", "other",
        "branch"]


@pytest.mark.emulator
def test_classes_add_up_to_instructions(int8_model):
    compiled = tvm_stm32dvfs.build(int8_model, granularity="largest")  # execute phases to classify
    run = tvm_stm32dvfs.emulate(compiled, np.zeros(compiled.inputs[0].shape, np.float32))
    assert {k: sum(v.values()) for k, v in run.classes.items()} == run.by_phase
    macs = sum(v.get("mac", 0) for k, v in run.classes.items() if k[1] == "execute")
    assert macs > 0
