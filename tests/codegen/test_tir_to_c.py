"""The C printer on its own: a lowered kernel printed by emit_function, compiled with gcc
-Wall -Wextra -Werror and called through ctypes, computes what numpy does; what it cannot print
is an error naming the kernel."""

from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest
import tvm
from tvm.script import relax as R

from tvm_stm32dvfs.codegen.tir_to_c import c_type, emit_function, helper_definitions
from tvm_stm32dvfs.lower import lower


@tvm.script.ir_module
class Softmaxish:
    @R.function
    def main(x: R.Tensor((3, 5), "float32"), y: R.Tensor((3, 5), "float32")):
        with R.dataflow():
            a = R.maximum(R.add(x, y), R.const(0.25, "float32"))
            b = R.sum(a, axis=[1])
            R.output(b)
        return b


def test_a_printed_kernel_compiles_warning_free_and_computes_what_numpy_does(tmp_path):
    lowered = lower(Softmaxish)
    (step,) = lowered.steps
    func, helpers = emit_function(lowered.kernels[step.kernel].func, "kernel_under_test")
    assert [p.dtype for p in func.params] == ["float32"] * 3 and [p.written for p in func.params] == [False, False, True]
    source = tmp_path / "k.c"
    source.write_text("#include <math.h>\n#include <stdbool.h>\n#include <stdint.h>\n#include <float.h>\n"
                      + helper_definitions(helpers) + "\n" + func.body + "\n")
    lib = tmp_path / "k.so"
    subprocess.run(["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o", str(lib),
                    str(source), "-lm"], check=True, capture_output=True)
    rng = np.random.default_rng(1)
    x, y = (rng.standard_normal((3, 5)).astype(np.float32) for _ in range(2))
    out = np.zeros(3, np.float32)
    ptr = ctypes.POINTER(ctypes.c_float)
    ctypes.CDLL(str(lib)).kernel_under_test(*(a.ctypes.data_as(ptr) for a in (x, y, out)))
    np.testing.assert_allclose(out, np.maximum(x + y, 0.25).sum(axis=1), rtol=1e-6)


def test_c_types_and_what_has_none():
    assert [c_type(t) for t in ("int8", "uint8", "int32", "float32", "bool")] == [
        "int8_t", "uint8_t", "int32_t", "float", "bool"]
    with pytest.raises(Exception, match="complex64|no C type|unsupported"):
        c_type("complex64")
