"""The stand-alone firmware under QEMU mps2-an500 prints outputs identical to the host run."""

from __future__ import annotations

import numpy as np
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.evaluate.qemu import run_in_qemu


@pytest.mark.emulator
@pytest.mark.parametrize("dae", [False, True], ids=["plain", "dae"])
def test_qemu_outputs_equal_host(int8_model, dae, tool):
    tool("qemu-system-arm")
    compiled = tvm_stm32dvfs.build(int8_model, dae=dae)
    x = np.random.default_rng(4).standard_normal(compiled.inputs[0].shape).astype(np.float32)
    (out,) = run_in_qemu(compiled, [x])
    np.testing.assert_array_equal(out, compiled.run_host(x))
