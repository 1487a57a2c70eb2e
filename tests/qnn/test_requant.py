"""Requantisation: C (runtime/include/stm32dvfs_qnn.h) == NumPy mirror == exact rounding."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_stm32dvfs.evaluate.host import CFLAGS, SANITIZE
from tvm_stm32dvfs.qnn.requant import fraction_bits, quantize_multiplier, requantize
from tvm_stm32dvfs.resources import data_dir

HARNESS = r"""
#include <stdio.h>
#include "stm32dvfs_qnn.h"
int main(void)
{
  long acc, mult, shift;
  while (scanf("%ld %ld %ld", &acc, &mult, &shift) == 3) {
    printf("%ld\n", (long)stm32dvfs_requantize((int32_t)acc, (int32_t)mult, (int32_t)shift));
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def c_requant(tmp_path_factory):
    d = tmp_path_factory.mktemp("qnn")
    (d / "h.c").write_text(HARNESS)
    exe = d / "h"
    include = data_dir("runtime") / "include"
    subprocess.run(["gcc", *CFLAGS, *SANITIZE, "-I", str(include), str(d / "h.c"), "-o", str(exe)], check=True)

    def run(cases):
        text = "".join(f"{a} {m} {s}\n" for a, m, s in cases)
        out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout.split()
        return np.array([int(v) for v in out], dtype=np.int64)

    return run


def exact_round_half_even(acc: int, mult: int, shift: int) -> int:
    value = Fraction(acc * mult) * Fraction(2) ** (shift - 31)
    floor = value.numerator // value.denominator
    rest = value - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    return max(-(2**31), min(2**31 - 1, floor))


def test_quantize_multiplier_reconstructs_the_real_value():
    for real in [1e-9, 0.0001, 0.0123, 0.5, 0.75, 1.0, 1.5, 3.9, 1000.0]:
        m, s = quantize_multiplier(real)
        assert 2**30 <= m < 2**31
        assert abs(m * 2.0 ** (s - 31) - real) <= real * 2**-30
    assert quantize_multiplier(0.0) == (0, 0)
    with pytest.raises(ValueError):
        quantize_multiplier(-1.0)


cases = st.lists(
    st.tuples(st.integers(-(2**31), 2**31 - 1), st.floats(1e-9, 1e3, allow_nan=False)), min_size=1, max_size=200
)


@settings(max_examples=40, deadline=None)
@given(cases)
def test_c_numpy_and_exact_rounding_agree(c_requant, data):
    triples = [(acc, *quantize_multiplier(real)) for acc, real in data]
    acc, mult, shift = (np.array(v, dtype=np.int64) for v in zip(*triples))
    got = c_requant(triples)
    np.testing.assert_array_equal(got, requantize(acc, mult, shift))
    assert got.tolist() == [exact_round_half_even(*t) for t in triples]


def test_ties_go_to_even(c_requant):
    m, s = quantize_multiplier(0.5)
    assert c_requant([(a, m, s) for a in (1, 3, 5, -1, -3, -5)]).tolist() == [0, 2, 2, 0, -2, -2]


def test_fraction_bits_keep_sums_in_int32():
    for worst in (1.0, 255.0, 3000.0, 2.0**20):
        bits = fraction_bits(worst)
        assert worst * 2.0**bits <= 2**31 - 1
        assert bits == 24 or worst * 2.0 ** (bits + 1) > 2**31 - 1
