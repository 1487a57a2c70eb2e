"""The stand-alone firmware under QEMU mps2-an500 prints outputs identical to the host run."""

from __future__ import annotations

import numpy as np
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.sim.qemu import run_in_qemu


@pytest.mark.emulator
@pytest.mark.parametrize("dae", [False, True], ids=["plain", "dae"])
def test_qemu_outputs_equal_host(int8_model, dae, tool):
    tool("qemu-system-arm")
    compiled = tvm_stm32dvfs.build(int8_model, dae=dae)
    x = np.random.default_rng(4).standard_normal(compiled.inputs[0].shape).astype(np.float32)
    (out,) = run_in_qemu(compiled, [x])
    np.testing.assert_array_equal(out, compiled.run_host(x))


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("name", ["kws_dscnn", "vww_mobilenet", "ic_resnet8", "mcunet_ir"])
def test_every_bundled_int8_model_is_bit_exact_on_host_unicorn_and_qemu(name, tool):
    """The three executions of one int8 model — gcc on the host, the cross-compiled firmware in
    Unicorn (driven from Python) and in QEMU (from its reset vector) — print the same bytes."""
    from tvm_stm32dvfs.sim.emulator import emulate, memory_map
    from tvm_stm32dvfs.models.zoo import ZOO

    tool("qemu-system-arm")
    mod, params = tvm_stm32dvfs.from_onnx(ZOO[name].int8_path)
    compiled = tvm_stm32dvfs.build(mod, params=params, model_name=f"{name}_int8")
    x = np.random.default_rng(7).standard_normal(compiled.inputs[0].shape).astype(np.float32)
    host = compiled.run_host(x)
    board = tvm_stm32dvfs.boards.load(compiled.board)
    unicorn = emulate(compiled, x, core=board.core, memory=memory_map(board)).outputs
    (qemu,) = run_in_qemu(compiled, [x])
    np.testing.assert_array_equal(unicorn, host)
    np.testing.assert_array_equal(qemu, host)
