"""Requantisation: C (runtime/include/stm32dvfs_qnn.h) == NumPy mirror == exact rounding."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_stm32dvfs.sim.host import CFLAGS, SANITIZE
from tvm_stm32dvfs.frontend.qnn.requant import fraction_bits, quantize_multiplier, requantize
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


def _harness(directory, source: str, columns: int):
    """Compile ``source`` (reads "acc mult shift" lines, prints ``columns`` values a line) under
    the sanitizers; returns cases -> int64 array of shape (cases, columns)."""
    (directory / "h.c").write_text(source)
    exe = directory / "h"
    include = data_dir("runtime") / "include"
    subprocess.run(["gcc", *CFLAGS, *SANITIZE, "-I", str(include), str(directory / "h.c"), "-o", str(exe)],
                   check=True)

    def run(cases):
        text = "".join(f"{a} {m} {s}\n" for a, m, s in cases)
        out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout.split()
        return np.array([int(v) for v in out], dtype=np.int64).reshape(-1, columns)

    return run


@pytest.fixture(scope="module")
def c_requant(tmp_path_factory):
    run = _harness(tmp_path_factory.mktemp("qnn"), HARNESS, 1)
    return lambda cases: run(cases)[:, 0]


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


# ---------------------------------------------------------------------------- TFLite's rules
TFLITE_HARNESS = r"""
#include <stdio.h>
#include "stm32dvfs_qnn.h"
int main(void)
{
  long acc, mult, shift;
  while (scanf("%ld %ld %ld", &acc, &mult, &shift) == 3) {
    printf("%ld %ld\n", (long)stm32dvfs_requantize_double((int32_t)acc, (int32_t)mult, (int32_t)shift),
           (long)stm32dvfs_requantize_half_up((int32_t)acc, (int32_t)mult, (int32_t)shift));
  }
  return 0;
}
"""


def gemmlowp_double_rounding(acc: int, mult: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier as its C++ is written (Python integers)."""
    left, right = max(shift, 0), max(-shift, 0)
    a = acc * (1 << left)
    if a == mult == -(2**31):
        high = 2**31 - 1
    else:
        ab = a * mult
        nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
        v = ab + nudge
        high = v // (1 << 31) if v >= 0 else -((-v) // (1 << 31))  # C++ division truncates
    mask = (1 << right) - 1
    remainder, threshold = high & mask, (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if remainder > threshold else 0)


def exact_round_half_up(acc: int, mult: int, shift: int) -> int:
    value = Fraction(acc * mult) * Fraction(2) ** (shift - 31)
    floor = value.numerator // value.denominator
    return floor + (1 if value - floor >= Fraction(1, 2) else 0)


@pytest.fixture(scope="module")
def c_tflite_requant(tmp_path_factory):
    return _harness(tmp_path_factory.mktemp("qnn_tflite"), TFLITE_HARNESS, 2)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**24), 2**24), st.integers(2**30, 2**31 - 1), st.integers(-20, 0)),
                min_size=1, max_size=40))
def test_tflite_rules_c_equal_numpy_equal_the_definitions(c_tflite_requant, cases):
    from tvm_stm32dvfs.frontend.qnn.requant import requantize_double, requantize_half_up

    got = c_tflite_requant(cases)
    acc, mult, shift = (np.array(v, dtype=np.int64) for v in zip(*cases))
    assert list(got[:, 0]) == [gemmlowp_double_rounding(*c) for c in cases] == list(requantize_double(acc, mult, shift))
    assert list(got[:, 1]) == [exact_round_half_up(*c) for c in cases] == list(requantize_half_up(acc, mult, shift))


def test_double_rounding_is_not_single_rounding():
    """The case that makes TFLite's convolutions differ from one rounding: 56.49 LSB, first
    rounded to 31 fraction bits lands on 56.5, then rounds away from zero."""
    from tvm_stm32dvfs.frontend.qnn.requant import requantize_double, requantize_half_up

    acc, mult, shift = 2691, 1442659874, -5  # measured on ad01_int8 (its FC layers round once)
    assert int(requantize_double(acc, mult, shift)) == 57 and int(requantize_half_up(acc, mult, shift)) == 56
    assert int(requantize_double(-(2**31), -(2**31), 0)) == 2**31 - 1  # the saturating product


def test_tflite_quantize_multiplier_rounds_half_away_from_zero():
    from tvm_stm32dvfs.frontend.qnn.requant import tflite_quantize_multiplier

    real = (2**30 + 0.5) / 2**31  # the Q31 fraction lies exactly on a tie (2^30 + 0.5)
    assert tflite_quantize_multiplier(real) == (2**30 + 1, 0)
    assert quantize_multiplier(real) == (2**30, 0)  # Python's round: ties to even
    for r in [1e-9, 0.0123, 0.75, 3.9]:
        assert tflite_quantize_multiplier(r) == quantize_multiplier(r)


@settings(max_examples=200, deadline=None)
@given(st.integers(2**30, 2**31 - 1), st.integers(-24, -2), st.integers(-128, 127), st.integers(1, 2**20),
       st.lists(st.integers(-(2**20), 2**20), min_size=1, max_size=50))
def test_fast_rule_equals_half_up_where_allowed(mult, shift, zero_point, bound, accs):
    """Both round half up, so wherever fast_half_up_valid holds, SMMLA + shift is the rule."""
    from tvm_stm32dvfs.frontend.qnn.requant import fast_half_up_valid, requantize_half_up

    if not fast_half_up_valid([mult], [shift], zero_point, [bound]):
        return
    s = -1 - shift
    c = (1 << (s - 1)) + zero_point * (1 << s)
    for acc in (a for a in accs if abs(a) <= bound):
        fast = (c + ((acc * mult) >> 32)) >> s
        assert fast == int(requantize_half_up(acc, mult, shift)) + zero_point
