"""reduce_intermediates on a legalised conv + bias + ReLU: the elementwise intermediate is
inlined, the padding kept apart, the reduction's initialisation hoisted, the epilogue computed
under the convolution's spatial loops; the lowered model still computes what numpy does."""

from __future__ import annotations

import re

import numpy as np
import tvm
from tvm import tirx
from tvm.script import relax as R

import tvm_stm32dvfs
from tvm_stm32dvfs.lower import relax_passes
from tvm_stm32dvfs.lower.schedule import reduce_intermediates


@tvm.script.ir_module
class ConvBiasRelu:
    @R.function
    def main(x: R.Tensor((1, 2, 6, 6), "float32"), w: R.Tensor((4, 2, 3, 3), "float32"),
             b: R.Tensor((1, 4, 1, 1), "float32")):
        with R.dataflow():
            c = R.nn.conv2d(x, w, padding=(1, 1))
            d = R.nn.relu(R.add(c, b))
            R.output(d)
        return d


def _fused() -> tirx.PrimFunc:
    mod = ConvBiasRelu
    with tvm.transform.PassContext(opt_level=3):
        for p in relax_passes():
            mod = p(mod)
    (func,) = [f for _, f in mod.functions_items() if isinstance(f, tirx.PrimFunc)]
    return func


def _blocks(func: tirx.PrimFunc) -> set[str]:
    """The names of the function's blocks, as its TVMScript prints them."""
    return set(re.findall(r'T\.sblock\("(\w+)"\)', func.script()))


def test_the_bias_add_is_inlined_and_the_init_hoisted_but_the_padding_kept():
    before, after = _fused(), reduce_intermediates(_fused())
    assert "T_add" in _blocks(before) and "T_add" not in _blocks(after)
    assert "pad_temp" in _blocks(after)
    assert "conv2d_nchw_init" in _blocks(after) and "T.init()" not in after.script()
    assert after.script().count("sblock_alloc_buffer") < before.script().count("sblock_alloc_buffer")


def test_the_rescheduled_model_computes_what_numpy_does():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal((1, 4, 1, 1)).astype(np.float32)
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    compiled = tvm_stm32dvfs.build(ConvBiasRelu, params={"w": w, "b": b})
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.zeros((1, 4, 6, 6), np.float32)
    for i in range(6):
        for j in range(6):
            want[0, :, i, j] = np.einsum("ckl,ockl->o", padded[0, :, i:i + 3, j:j + 3], w)
    np.testing.assert_allclose(compiled.run_host(x), np.maximum(want + b, 0), rtol=1e-5, atol=1e-5)
