"""Fixed-point requantisation: the real multiplier as (Q31 multiplier, shift), and a NumPy mirror of
``runtime/include/stm32dvfs_qnn.h`` for tests and reference computations."""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(real: float, half_away: bool = False) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: ``real == M * 2**(shift - 31)`` with M a Q31 value in [2^30, 2^31).

    Returns ``(M, shift)``; zero maps to ``(0, 0)``. Multipliers below 2^-31 underflow to zero, as
    in TFLite. Raises ValueError for a negative or non-finite multiplier. The Q31 fraction is
    rounded to nearest, ties to even, or with ``half_away`` away from zero (C++'s ``std::round``).
    """
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"multiplier must be finite and non-negative, got {real}")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)  # real = q * 2**shift, q in [0.5, 1)
    m = math.floor(q * (1 << 31) + 0.5) if half_away else round(q * (1 << 31))
    if m == (1 << 31):
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"multiplier {real} is too large for int32 requantisation")
    return int(m), int(shift)


def quantize_multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, dtype=np.float64).reshape(-1)]
    return (np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32))


def requantize(acc, multiplier, shift) -> np.ndarray:
    """NumPy mirror of ``stm32dvfs_requantize``: round(acc * M * 2^(shift-31)), once, ties to even."""
    product = np.asarray(acc, dtype=np.int64) * np.asarray(multiplier, dtype=np.int64)
    total = 31 - np.asarray(shift, dtype=np.int64)
    q = product >> total
    r = product & ((np.int64(1) << total) - 1)
    half = np.int64(1) << (total - 1)
    q = q + ((r > half) | ((r == half) & ((q & 1) == 1)))
    return np.clip(q, INT32_MIN, INT32_MAX)


def fraction_bits(max_abs_value: float, limit: int = 24) -> int:
    """Most fraction bits F (<= limit) such that a value up to ``max_abs_value`` output LSBs,
    scaled by 2^F, stays inside int32 (used by kernels that sum several scaled terms)."""
    if max_abs_value <= 0:
        return limit
    return int(min(limit, math.floor(math.log2((2**31 - 1) / max_abs_value))))


def accumulator_bounds(weights: np.ndarray, bias: np.ndarray, input_zero_point: int) -> np.ndarray:
    """Per output channel, the largest |bias + sum (x - zx) * w| over every int8 input x: the
    reach of the int32 accumulator (``weights``: output channels first)."""
    reach = max(127 - int(input_zero_point), int(input_zero_point) + 128)
    w = np.abs(np.asarray(weights, dtype=np.int64).reshape(len(bias), -1)).sum(axis=1)
    return np.abs(np.asarray(bias, dtype=np.int64)) + reach * w


def fast_requant_exact(multiplier, shift, zero_point: int, bounds) -> bool:
    """Whether the fast requantisation of the kernels (``stm32dvfs_requant_prepare`` in
    runtime/include/stm32dvfs_nn_support.h) equals :func:`requantize` for every accumulator within
    ``bounds`` (per channel).

    The fast rule rounds half up: floor((floor(acc * M / 2^32) + c) / 2^s) with t = 31 - shift =
    32 + s and c = 2^(s-1) + zp * 2^s. It is the exact rule when (1) s >= 1; (2) c fits int32;
    (3) no accumulator falls on a tie — acc * M = 2^(t-1) mod 2^t needs |acc| >= 2^(t-1-z) where
    2^z is the largest power of two dividing M, so no tie exists when that exceeds the bound; (4)
    the SMMLA result c + floor(acc * M / 2^32) cannot overflow int32.
    """
    for m, sh, bound in zip(np.asarray(multiplier).reshape(-1), np.asarray(shift).reshape(-1),
                            np.asarray(bounds).reshape(-1)):
        m, sh, bound = int(m), int(sh), int(bound)
        s = -1 - sh
        if s < 1 or s > 30:
            return False
        c = (1 << (s - 1)) + int(zero_point) * (1 << s)
        if not INT32_MIN <= c <= INT32_MAX:
            return False
        if m == 0:
            continue
        t = 32 + s
        z = (m & -m).bit_length() - 1
        if (1 << (t - 1 - z)) <= bound:
            return False
        if abs(c) + (bound * m >> 32) + 1 > INT32_MAX:
            return False
    return True


# ---------------------------------------------------------------------------- TFLite's rules
#: the rounding of a layer's requantisation (``stm32dvfs_requant.rounding``, STM32DVFS_ROUND_* in
#: runtime/include/stm32dvfs_nn_support.h): ONNX's ties to even, TFLite's double rounding (its
#: convolutions) and half up (its fully connected layers)
RULE_EXACT, RULE_DOUBLE, RULE_HALF_UP = 0, 1, 2


def tflite_quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier`` to the bit (C++'s ``std::round`` on the Q31 fraction)."""
    return quantize_multiplier(real, half_away=True)


def requantize_double(acc, multiplier, shift) -> np.ndarray:
    """NumPy mirror of ``stm32dvfs_requantize_double`` (TFLite's MultiplyByQuantizedMultiplier)."""
    acc = np.asarray(acc, dtype=np.int64)
    multiplier = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    x = acc << np.maximum(shift, 0)
    ab = x * multiplier
    v = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(v >= 0, v >> 31, -((-v) >> 31))
    high = np.where((x == INT32_MIN) & (multiplier == INT32_MIN), INT32_MAX, high)
    right = np.maximum(-shift, 0)
    mask = (np.int64(1) << right) - 1
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + ((high & mask) > threshold)


def requantize_half_up(acc, multiplier, shift) -> np.ndarray:
    """NumPy mirror of ``stm32dvfs_requantize_half_up``: round(acc * M * 2^(shift-31)), half up."""
    total = 31 - np.asarray(shift, dtype=np.int64)
    q = (np.asarray(acc, dtype=np.int64) * np.asarray(multiplier, dtype=np.int64) + (np.int64(1) << (total - 1))) >> total
    return np.clip(q, INT32_MIN, INT32_MAX)


def fast_half_up_valid(multiplier, shift, zero_point: int, bounds) -> bool:
    """Whether the kernels' fast rule (SMMLA + shift, half up) equals :func:`requantize_half_up`
    for every accumulator within ``bounds``: conditions (1), (2) and (4) of
    :func:`fast_requant_exact` — both rules round half up, so ties need no proof."""
    for m, sh, bound in zip(np.asarray(multiplier).reshape(-1), np.asarray(shift).reshape(-1),
                            np.asarray(bounds).reshape(-1)):
        s = -1 - int(sh)
        if s < 1 or s > 30:
            return False
        c = (1 << (s - 1)) + int(zero_point) * (1 << s)
        if not INT32_MIN <= c <= INT32_MAX or abs(c) + (int(bound) * int(m) >> 32) + 1 > INT32_MAX:
            return False
    return True
