"""Int8 kernels as TE computations (the project's "topi" for quantized operators).

Conventions, as TFLite Micro and CMSIS-NN: int8 activations with a per-tensor scale and zero
point, int8 weights with a per-output-channel scale and zero point 0, int32 accumulators and
bias (bias scale = input scale x weight scale), and requantisation of the accumulator by a
fixed-point multiplier and shift, rounded once to nearest, ties to even
(``stm32dvfs_requantize_s8`` in ``runtime/include/stm32dvfs_qnn.h``), with fused ReLU/ReLU6 as
the clamp bounds [lo, hi]. Kernels that add several scaled terms (add, an unfolded
BatchNormalization) scale them to 2^-F output LSBs in int32 and round the sum once.

Every function takes TE tensors and Python scalars and returns a TE tensor; the frontend calls
them through ``BlockBuilder.call_te``.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from tvm import te, tirx

from .requant import RULE_DOUBLE, RULE_EXACT, RULE_HALF_UP

REQUANTIZE_S8 = "stm32dvfs_requantize_s8"
#: the C function of each rounding rule (qnn/requant.py: RULE_*; runtime/include/stm32dvfs_qnn.h)
_REQUANTIZE_BY_RULE = {RULE_EXACT: REQUANTIZE_S8, RULE_DOUBLE: "stm32dvfs_requantize_double_s8",
                       RULE_HALF_UP: "stm32dvfs_requantize_half_up_s8"}


def _i32(v) -> tirx.PrimExpr:
    return tirx.const(int(v), "int32")


def requantize_s8(acc, multiplier, shift, zero_point: int, lo: int, hi: int, rule: int = RULE_EXACT):
    return tirx.call_extern("int8", _REQUANTIZE_BY_RULE[rule], acc, multiplier, shift, _i32(zero_point), _i32(lo),
                            _i32(hi))


def divide_by_pot_s8(acc, bits: int, zero_point: int, lo: int, hi: int):
    """round(acc / 2^bits) (ties to even) + zero point, clamped: M = 2^30 with shift 1 - bits."""
    return requantize_s8(acc, _i32(1 << 30), _i32(1 - bits), zero_point, lo, hi)


class OutputRequant(NamedTuple):
    """The requantisation of an int32 accumulator (+ bias) to the int8 output, per output channel:
    output zero point, clamp bounds [lo, hi] (fused ReLU/ReLU6), the rounding rule (RULE_EXACT, or
    TFLite's RULE_DOUBLE / RULE_HALF_UP) and ``fast``: the caller proved the kernels' fast
    requantisation exact for these constants
    (:func:`~tvm_stm32dvfs.frontend.qnn.requant.fast_requant_exact`). The computation here is
    always the model's rule; ``fast`` only tells the kernel library it may take the fast path.
    A tuple, because ``BlockBuilder.emit_te`` passes tuples through (as plain tuples: the kernels
    rebuild it)."""

    zero_point: int
    lo: int
    hi: int
    fast: bool = False
    rounding: int = RULE_EXACT

    def compute(self, acc: te.Tensor, bias: te.Tensor, multiplier: te.Tensor, shift: te.Tensor, *,
                channel_axis: int, name: str) -> te.Tensor:
        """``acc`` + bias requantised, bias and constants indexed by the output channel."""

        def value(*i):
            c = i[channel_axis]
            return requantize_s8(acc(*i) + bias[c], multiplier[c], shift[c], self.zero_point, self.lo, self.hi,
                                 self.rounding)

        # the library call's requantisation (``stm32dvfs.requant``: zero point, clamp, fast, rounding)
        attrs = {"stm32dvfs.requant": [int(self.zero_point), int(self.lo), int(self.hi), int(bool(self.fast)),
                                       int(self.rounding)]}
        return te.compute(acc.shape, value, name=name, attrs=attrs)


def quantize(x: te.Tensor, scale: float, zero_point: int) -> te.Tensor:
    """float -> int8: clamp(round_half_even(x / scale) + zero_point) (ONNX QuantizeLinear)."""
    s = tirx.const(float(scale), "float32")
    z = tirx.const(float(zero_point), "float32")

    def f(*i):
        v = tirx.round(x(*i) / s) + z  # C nearbyintf: ties to even, as ONNX
        return tirx.Cast("int8", tirx.max(tirx.min(v, tirx.const(127.0, "float32")), tirx.const(-128.0, "float32")))

    return te.compute(x.shape, f, name="quantize",
                      attrs={"stm32dvfs.op": "quantize", "stm32dvfs.scale": repr(float(scale)),
                             "stm32dvfs.zero_point": int(zero_point)})


def dequantize(q: te.Tensor, scale: float, zero_point: int) -> te.Tensor:
    """int8 -> float: (q - zero_point) * scale (ONNX DequantizeLinear)."""
    s = tirx.const(float(scale), "float32")
    return te.compute(
        q.shape, lambda *i: tirx.Cast("float32", q(*i).astype("int32") - _i32(zero_point)) * s, name="dequantize",
        attrs={"stm32dvfs.op": "dequantize", "stm32dvfs.scale": repr(float(scale)),
               "stm32dvfs.zero_point": int(zero_point)},
    )


def conv2d_nchw(x: te.Tensor, w: te.Tensor, bias: te.Tensor, multiplier: te.Tensor, shift: te.Tensor, *,
                x_zero_point: int, out: OutputRequant, strides: Sequence[int], pads: Sequence[int],
                dilations: Sequence[int], groups: int) -> te.Tensor:
    """Int8 2-D convolution, NCHW activations, OIHW weights, per-output-channel requantisation.

    The input is widened to int16 with its zero point subtracted once (``pad_temp``), so the
    padding is exactly 0 and the MAC loop does no sign extension or offset arithmetic.

    The blocks carry what the micro-kernels need (``stm32dvfs.*`` attributes, read by
    :class:`~tvm_stm32dvfs.transform.DescribeMicroKernels`); ``out`` is the requantisation to
    the output (see :class:`OutputRequant`).
    """
    n, c, h, wd = (int(d) for d in x.shape)
    o, cpg, kh, kw = (int(d) for d in w.shape)
    pt, pl, pb, pr = pads
    sh, sw = strides
    dh, dw = dilations
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    opg = o // groups
    zx = tirx.const(int(x_zero_point), "int16")

    def pad(nn, cc, yy, xx):
        inside = tirx.all(yy >= pt, yy < h + pt, xx >= pl, xx < wd + pl)
        return tirx.if_then_else(inside, x[nn, cc, yy - pt, xx - pl].astype("int16") - zx, tirx.const(0, "int16"))

    padded = te.compute((n, c, h + pt + pb, wd + pl + pr), pad, name="pad_temp")
    # weights widened once: a stage of its own so that the DAE tiling can place it (the plain
    # schedule inlines it back into the MAC loop)
    wide = te.compute(w.shape, lambda *i: w(*i).astype("int16"), name="weights_wide")
    rc = te.reduce_axis((0, cpg), name="rc")
    ry = te.reduce_axis((0, kh), name="ry")
    rx = te.reduce_axis((0, kw), name="rx")

    def in_channel(oo):
        return rc if groups == 1 else (oo // opg) * cpg + rc

    acc = te.compute(
        (n, o, oh, ow),
        lambda nn, oo, yy, xx: te.sum(
            padded[nn, in_channel(oo), yy * sh + ry * dh, xx * sw + rx * dw].astype("int32")
            * wide[oo, rc, ry, rx].astype("int32"),
            axis=[rc, ry, rx],
        ),
        name="conv2d_acc",
        # what the DAE tiling needs to size its buffers (see tvm_stm32dvfs/dae/tiles.py)
        attrs={
            "stm32dvfs.op": "depthwise_conv2d" if groups == c == o and cpg == 1 else
            ("conv2d" if groups == 1 else "group_conv2d"),
            "stm32dvfs.kernel": [kh, kw],
            "stm32dvfs.strides": [sh, sw],
            "stm32dvfs.dilations": [dh, dw],
            "stm32dvfs.pads": [pt, pl, pb, pr],
            "stm32dvfs.groups": int(groups),
            "stm32dvfs.input_zero_point": int(x_zero_point),
        },
    )
    return OutputRequant(*out).compute(acc, bias, multiplier, shift, channel_axis=1, name="conv2d_s8")


def dense(x: te.Tensor, w: te.Tensor, bias: te.Tensor, multiplier: te.Tensor, shift: te.Tensor, *,
          x_zero_point: int, out: OutputRequant) -> te.Tensor:
    """Int8 fully connected layer: x (M, K), w (N, K), per-output-channel requantisation.

    As in the convolution, the input is widened to int16 with its zero point subtracted once
    (``pad_temp``, kept out of the MAC loop)."""
    m, k = (int(d) for d in x.shape)
    nout = int(w.shape[0])
    rk = te.reduce_axis((0, k), name="rk")
    zx = tirx.const(int(x_zero_point), "int16")
    centred = te.compute((m, k), lambda i, j: x[i, j].astype("int16") - zx, name="pad_temp")
    wide = te.compute(w.shape, lambda *i: w(*i).astype("int16"), name="weights_wide")
    acc = te.compute(
        (m, nout),
        lambda i, j: te.sum(centred[i, rk].astype("int32") * wide[j, rk].astype("int32"), axis=rk),
        name="dense_acc",
        attrs={"stm32dvfs.op": "dense", "stm32dvfs.input_zero_point": int(x_zero_point)},
    )
    return OutputRequant(*out).compute(acc, bias, multiplier, shift, channel_axis=1, name="dense_s8")


def _broadcast_index(t: te.Tensor, out_shape: Sequence[int], idx):
    rank = len(t.shape)
    lead = len(out_shape) - rank
    return [0 if int(t.shape[d]) == 1 and int(out_shape[lead + d]) != 1 else idx[lead + d] for d in range(rank)]


def broadcast_shape(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    out = []
    for da, db in zip((1,) * (len(b) - len(a)) + tuple(a), (1,) * (len(a) - len(b)) + tuple(b)):
        if da != db and 1 not in (da, db):
            raise ValueError(f"shapes {tuple(a)} and {tuple(b)} do not broadcast")
        out.append(max(da, db))
    return tuple(out)


def add(a: te.Tensor, b: te.Tensor, *, a_zero_point: int, b_zero_point: int, a_factor: int, b_factor: int,
        bits: int, out_zero_point: int, lo: int, hi: int) -> te.Tensor:
    """Int8 element-wise add with its own rescale: round(((a - za) * A + (b - zb) * B) / 2^bits) + zo,
    where A = sa / so * 2^bits and B = sb / so * 2^bits (one rounding)."""
    shape = broadcast_shape([int(d) for d in a.shape], [int(d) for d in b.shape])

    def f(*i):
        va = (a[tuple(_broadcast_index(a, shape, i))].astype("int32") - _i32(a_zero_point)) * _i32(a_factor)
        vb = (b[tuple(_broadcast_index(b, shape, i))].astype("int32") - _i32(b_zero_point)) * _i32(b_factor)
        return divide_by_pot_s8(va + vb, bits, out_zero_point, lo, hi)

    return te.compute(shape, f, name="add_s8", attrs={"stm32dvfs.op": "add", "stm32dvfs.add": [
        int(a_zero_point), int(a_factor), int(b_zero_point), int(b_factor), int(bits), int(out_zero_point), int(lo),
        int(hi)]})


def mul(a: te.Tensor, b: te.Tensor, *, a_zero_point: int, b_zero_point: int, multiplier: int, shift: int,
        out_zero_point: int, lo: int, hi: int) -> te.Tensor:
    """Int8 element-wise multiply: requantise (a - za) * (b - zb) by sa * sb / so."""
    shape = broadcast_shape([int(d) for d in a.shape], [int(d) for d in b.shape])

    def f(*i):
        va = a[tuple(_broadcast_index(a, shape, i))].astype("int32") - _i32(a_zero_point)
        vb = b[tuple(_broadcast_index(b, shape, i))].astype("int32") - _i32(b_zero_point)
        return requantize_s8(va * vb, _i32(multiplier), _i32(shift), out_zero_point, lo, hi)

    return te.compute(shape, f, name="mul_s8")


def avg_pool2d(x: te.Tensor, *, kernel: Sequence[int], strides: Sequence[int], x_zero_point: int,
               multiplier: int, shift: int, out_zero_point: int, lo: int, hi: int) -> te.Tensor:
    """Int8 average pool without padding: requantise the window sum by sx / (so * window)."""
    n, c, h, w = (int(d) for d in x.shape)
    kh, kw = kernel
    sh, sw = strides
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    ry = te.reduce_axis((0, kh), name="ry")
    rx = te.reduce_axis((0, kw), name="rx")
    total = te.compute(
        (n, c, oh, ow),
        lambda nn, cc, yy, xx: te.sum(
            x[nn, cc, yy * sh + ry, xx * sw + rx].astype("int32") - _i32(x_zero_point), axis=[ry, rx]
        ),
        name="pool_sum",
    )
    return te.compute(
        (n, c, oh, ow),
        lambda *i: requantize_s8(total(*i), _i32(multiplier), _i32(shift), out_zero_point, lo, hi),
        name="avg_pool_s8",
    )


def max_pool2d(x: te.Tensor, *, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
               dilations: Sequence[int], x_zero_point: int, multiplier: int, shift: int, out_zero_point: int,
               lo: int, hi: int) -> te.Tensor:
    """Int8 max pool; padding never wins (it is -128), the maximum is then rescaled."""
    n, c, h, w = (int(d) for d in x.shape)
    kh, kw = kernel
    sh, sw = strides
    pt, pl, pb, pr = pads
    dh, dw = dilations
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    ry = te.reduce_axis((0, kh), name="ry")
    rx = te.reduce_axis((0, kw), name="rx")

    def value(nn, cc, yy, xx):
        iy, ix = yy * sh + ry * dh - pt, xx * sw + rx * dw - pl
        inside = tirx.all(iy >= 0, iy < h, ix >= 0, ix < w)
        return tirx.if_then_else(inside, x[nn, cc, iy, ix].astype("int32"), _i32(-128))

    biggest = te.compute((n, c, oh, ow), lambda *i: te.max(value(*i), axis=[ry, rx]), name="pool_max")
    return te.compute(
        (n, c, oh, ow),
        lambda *i: requantize_s8(biggest(*i) - _i32(x_zero_point), _i32(multiplier), _i32(shift),
                                 out_zero_point, lo, hi),
        name="max_pool_s8",
    )


def rescale(x: te.Tensor, *, x_zero_point: int, multiplier: int, shift: int, out_zero_point: int,
            lo: int, hi: int) -> te.Tensor:
    """Int8 -> int8 with another scale / zero point / clamp (ReLU, ReLU6, requantisation)."""
    return te.compute(
        x.shape,
        lambda *i: requantize_s8(x(*i).astype("int32") - _i32(x_zero_point), _i32(multiplier), _i32(shift),
                                 out_zero_point, lo, hi),
        name="rescale_s8",
    )


def channel_affine(x: te.Tensor, a: te.Tensor, b: te.Tensor, *, x_zero_point: int, fraction_bits: int,
                   out_zero_point: int, lo: int, hi: int) -> te.Tensor:
    """Int8 per-channel y = a_c * x + b_c (an unfolded BatchNormalization), NCHW, channel axis 1.

    ``a`` and ``b`` are int32 in units of 2^-fraction_bits of the output scale, so the result is
    rounded once (ties to even): q = round(((x - zx) * a_c + b_c) / 2^fraction_bits) + zo.
    """

    def f(nn, cc, *rest):
        acc = (x[(nn, cc, *rest)].astype("int32") - _i32(x_zero_point)) * a[cc] + b[cc]
        return divide_by_pot_s8(acc, fraction_bits, out_zero_point, lo, hi)

    return te.compute(x.shape, f, name="channel_affine_s8")


def softmax(x: te.Tensor, *, axis: int, x_scale: float, x_zero_point: int, out_scale: float,
            out_zero_point: int) -> te.Tensor:
    """Int8 softmax along ``axis``. It dequantises, computes in float32 and quantises (like
    TFLite's reference kernel, not its fixed-point one): documented, not a silent fallback."""
    from tvm import topi

    deq = dequantize(x, x_scale, x_zero_point)
    y = topi.nn.softmax(deq, axis=axis)
    return quantize(y, out_scale, out_zero_point)


# ------------------------------------------------------------------ TFLite's integer semantics
# Kernels of TFLite models compute what the TFLite interpreter's reference kernels compute, to the
# bit (tvm_stm32dvfs/frontend/tflite.py; checked against ai-edge-litert in the tests).
REQUANTIZE_DOUBLE = "stm32dvfs_requantize_double"
#: TFLite's ADD shifts both inputs left by 20 bits before rescaling them (int8 kernels)
TFLITE_ADD_LEFT_SHIFT = 20


def add_tflite(a: te.Tensor, b: te.Tensor, *, a_zero_point: int, b_zero_point: int, a_multiplier: int, a_shift: int,
               b_multiplier: int, b_shift: int, out_multiplier: int, out_shift: int, out_zero_point: int, lo: int,
               hi: int) -> te.Tensor:
    """TFLite's int8 ADD: each input, offset and shifted left 20 bits, rescaled to twice the larger
    input scale; the sum rescaled to the output — three double roundings (gemmlowp)."""
    shape = broadcast_shape([int(d) for d in a.shape], [int(d) for d in b.shape])

    def scaled(t, zero_point, multiplier, shift, i):
        v = (t[tuple(_broadcast_index(t, shape, i))].astype("int32") - _i32(zero_point)) * _i32(
            1 << TFLITE_ADD_LEFT_SHIFT)
        return tirx.call_extern("int32", REQUANTIZE_DOUBLE, v, _i32(multiplier), _i32(shift))

    def f(*i):
        total = scaled(a, a_zero_point, a_multiplier, a_shift, i) + scaled(b, b_zero_point, b_multiplier, b_shift, i)
        return requantize_s8(total, _i32(out_multiplier), _i32(out_shift), out_zero_point, lo, hi, RULE_DOUBLE)

    return te.compute(shape, f, name="add_tflite_s8")


def avg_pool2d_tflite(x: te.Tensor, *, kernel: Sequence[int], strides: Sequence[int], lo: int, hi: int) -> te.Tensor:
    """TFLite's int8 AVERAGE_POOL_2D without padding: the window sum of the raw int8 values divided
    by the window size, rounded half away from zero (C's truncating division of the sum plus or
    minus half the count); input and output share scale and zero point."""
    n, c, h, w = (int(d) for d in x.shape)
    kh, kw = kernel
    sh, sw = strides
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    count = kh * kw
    ry = te.reduce_axis((0, kh), name="ry")
    rx = te.reduce_axis((0, kw), name="rx")
    total = te.compute((n, c, oh, ow), lambda nn, cc, yy, xx: te.sum(
        x[nn, cc, yy * sh + ry, xx * sw + rx].astype("int32"), axis=[ry, rx]), name="pool_sum")

    def f(*i):
        s = total(*i)
        v = tirx.if_then_else(s > 0, tirx.truncdiv(s + _i32(count // 2), _i32(count)),
                              tirx.truncdiv(s - _i32(count // 2), _i32(count)))
        return tirx.Cast("int8", tirx.max(tirx.min(v, _i32(hi)), _i32(lo)))

    return te.compute((n, c, oh, ow), f, name="avg_pool_tflite_s8")


def softmax_tflite(x: te.Tensor, table: te.Tensor, *, out_scale: float, out_zero_point: int) -> te.Tensor:
    """TFLite's int8 SOFTMAX over the last axis of a 2-D tensor: with the 256-entry float32 table
    of exp(-input_scale * beta * d) (``table[255 - d]``), per row the sum of table[255 - max + x]
    in order, ``inv = 1 / (sum * out_scale)``, each output ``roundf(table[...] * inv) + zp``
    clamped to int8 — float32 operations in TFLite's order, so the same bits."""
    m, n = (int(d) for d in x.shape)
    j = te.reduce_axis((0, n), name="j")
    biggest = te.compute((m,), lambda i: te.max(x[i, j].astype("int32"), axis=j), name="softmax_max")

    def entry(i, k):
        return table[_i32(255) - biggest[i] + x[i, k].astype("int32")]

    k = te.reduce_axis((0, n), name="k")
    total = te.compute((m,), lambda i: te.sum(entry(i, k), axis=k), name="softmax_sum")
    inv = te.compute((m,), lambda i: tirx.const(1.0, "float32") / (total[i] * tirx.const(float(out_scale), "float32")),
                     name="softmax_inv")

    def f(i, c):
        q = tirx.Cast("int32", tirx.call_pure_extern("float32", "roundf", entry(i, c) * inv[i])) + _i32(out_zero_point)
        return tirx.Cast("int8", tirx.max(tirx.min(q, _i32(127)), _i32(-128)))

    return te.compute((m, n), f, name="softmax_tflite_s8")
