"""Import of int8 TensorFlow Lite models with TFLite's own integer semantics.

The flatbuffer is read with the ``tflite`` schema package (as TVM's ``relax.frontend.tflite``
does). TVM's TFLite frontend is not used for the graph: it lowers every quantized operator to
dequantize -> float operator -> quantize (``tflite_frontend.py``: ``self.dequantize``), the
semantics of a QDQ model, while the TFLite interpreter computes in integers with rules of its
own. Each operator here becomes the int8 kernel that reproduces the interpreter's reference
kernels (ai-edge-litert, ``OpResolverType.BUILTIN_REF``) bit for bit:

* CONV_2D, DEPTHWISE_CONV_2D: per-channel multipliers from ``float(input_scale * filter_scale)``
  (a float32 product) / output scale, TFLite's ``QuantizeMultiplier``, and gemmlowp's double
  rounding (``stm32dvfs_requantize_double``);
* FULLY_CONNECTED: the same multipliers, rounded once, half up (its int64 path);
* ADD: both inputs shifted left 20 bits and rescaled to twice the larger input scale, the sum
  rescaled to the output (three double roundings);
* AVERAGE_POOL_2D: the sum of the window over its size, rounded half away from zero;
* MAX_POOL_2D, RESHAPE, SQUEEZE: data movement; SOFTMAX: the float32 lookup-table kernel.

Activations stay NCHW inside (the kernels' layout, docs/kernels.md): the NHWC input is transposed
once at the start, weights are transposed at compile time, and a reshape of a 4-D tensor goes
through NHWC order, as TFLite flattens it. Inputs and outputs keep the model's NHWC shapes.
Anything else — float or int16 tensors, other operators, several subgraphs — is one
:class:`UnsupportedOperatorError` naming the operators and where they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np
import tvm
from tvm import relax

from ..errors import DynamicShapeError, ModelFormatError, UnsupportedOperatorError
from .qnn import kernels
from .qnn.requant import (RULE_DOUBLE, RULE_HALF_UP, accumulator_bounds, fast_half_up_valid,
                           tflite_quantize_multiplier)
from .qdq import _identifier, same_pads

#: TFLite operators this release compiles (int8 tensors, int32 biases)
SUPPORTED_TFLITE_OPS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D", "RESHAPE",
    "SQUEEZE", "SOFTMAX",
})
_INT8, _INT32 = 9, 2  # tflite.TensorType
_TYPE_NAMES = {0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 7: "INT16", 9: "INT8"}
_NCHW, _NHWC = (0, 3, 1, 2), (0, 2, 3, 1)


@dataclass(frozen=True)
class Value:
    """An int8 activation: its Relax expression (NCHW when 4-D), the model's (NHWC) shape and its
    quantization."""

    expr: relax.Expr
    shape: tuple[int, ...]
    scale: float  # float32, as a Python float
    zero_point: int


def _read(path: Path):
    import tflite

    if not path.is_file():
        raise ModelFormatError(f"{path}: no such model file")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFormatError(f"{path} is not a TensorFlow Lite model (no TFL3 identifier): re-export it from "
                               "your framework")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        _touch_everything(model)
    except Exception as exc:  # flatbuffers raises struct and index errors on a damaged file
        raise ModelFormatError(f"{path} is not a readable TensorFlow Lite model ({type(exc).__name__}): the file is "
                               "corrupt or truncated") from None
    return model


def _touch_everything(model) -> None:
    """Read every table the importer reads, so that a truncated or damaged file fails here, as a
    ModelFormatError, and not halfway through the import (flatbuffers reads lazily)."""
    for k in range(model.OperatorCodesLength()):
        model.OperatorCodes(k).BuiltinCode()
    for k in range(model.BuffersLength()):
        model.Buffers(k).DataAsNumpy()
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for k in range(graph.TensorsLength()):
            t = graph.Tensors(k)
            t.Name(), t.ShapeAsNumpy(), t.Type(), t.Buffer()
            if t.Quantization() is not None:
                t.Quantization().ScaleAsNumpy(), t.Quantization().ZeroPointAsNumpy()
        for k in range(graph.OperatorsLength()):
            op = graph.Operators(k)
            op.OpcodeIndex(), op.InputsAsNumpy(), op.OutputsAsNumpy(), op.BuiltinOptions()
        graph.InputsAsNumpy(), graph.OutputsAsNumpy()


def _op_names() -> dict[int, str]:
    from tflite.BuiltinOperator import BuiltinOperator

    return {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}


class TfliteImporter:
    def __init__(self, model, path: Path, shape: Mapping[str, Sequence[int]] | Sequence[int] | None) -> None:
        self.model = model
        self.path = path
        if model.SubgraphsLength() != 1:
            raise UnsupportedOperatorError(f"{path.name} has {model.SubgraphsLength()} subgraphs: control flow "
                                           "(WHILE, IF, CALL_ONCE) is not supported")
        self.graph = model.Subgraphs(0)
        self.shape = shape
        names = _op_names()
        self.ops = []
        for k in range(self.graph.OperatorsLength()):
            op = self.graph.Operators(k)
            code = model.OperatorCodes(op.OpcodeIndex())
            name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            if name == "CUSTOM":
                name = f"CUSTOM '{code.CustomCode().decode(errors='replace')}'"
            self.ops.append((name, op))
        self.values: dict[int, Value] = {}
        self.bb = relax.BlockBuilder()
        self.name_hint = ""

    # ------------------------------------------------------------------ tensors
    def tensor(self, index: int):
        return self.graph.Tensors(index)

    def tensor_name(self, index: int) -> str:
        return self.tensor(index).Name().decode(errors="replace")

    def tensor_shape(self, index: int) -> tuple[int, ...]:
        t = self.tensor(index)
        return tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()

    def quantization(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        q = self.tensor(index).Quantization()
        if q is None or q.ScaleLength() == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64), 0
        return q.ScaleAsNumpy().astype(np.float32), q.ZeroPointAsNumpy().astype(np.int64), int(q.QuantizedDimension())

    def constant(self, index: int) -> np.ndarray | None:
        t = self.tensor(index)
        data = self.model.Buffers(t.Buffer()).DataAsNumpy() if t.Buffer() < self.model.BuffersLength() else 0
        if isinstance(data, int) or data.size == 0:
            return None
        dtype = {_INT8: np.int8, _INT32: np.int32, 4: np.int64, 0: np.float32}.get(t.Type())
        if dtype is None:
            raise UnsupportedOperatorError(f"constant '{self.tensor_name(index)}' has type "
                                           f"{_TYPE_NAMES.get(t.Type(), t.Type())}")
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(self.tensor_shape(index))

    def act_qparams(self, index: int, where: str) -> tuple[float, int]:
        t = self.tensor(index)
        if t.Type() != _INT8:
            raise UnsupportedOperatorError(f"{where}: tensor '{self.tensor_name(index)}' is "
                                           f"{_TYPE_NAMES.get(t.Type(), t.Type())}; this release compiles int8 "
                                           "TFLite models (full-integer quantization)")
        scale, zp, _ = self.quantization(index)
        if scale.size != 1:
            raise UnsupportedOperatorError(f"{where}: activation '{self.tensor_name(index)}' is not quantized per "
                                           "tensor")
        return float(scale[0]), int(zp[0])

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        unsupported: dict[str, list[str]] = {}
        for k, (name, op) in enumerate(self.ops):
            if name not in SUPPORTED_TFLITE_OPS:
                out = self.tensor_name(op.Outputs(0)) if op.OutputsLength() else ""
                unsupported.setdefault(name, []).append(f"#{k} '{out}'")
        if unsupported:
            listed = "; ".join(f"{op} (operator{'s' if len(v) > 1 else ''} {', '.join(v[:3])}"
                               f"{', ...' if len(v) > 3 else ''})" for op, v in sorted(unsupported.items()))
            raise UnsupportedOperatorError(f"unsupported TFLite operator{'s' if len(unsupported) > 1 else ''}: "
                                           f"{listed}. Supported: {', '.join(sorted(SUPPORTED_TFLITE_OPS))}")

    def input_shape(self, index: int) -> list[int]:
        name = self.tensor_name(index)
        dims = list(self.tensor_shape(index))
        signature = self.tensor(index).ShapeSignatureAsNumpy() if self.tensor(index).ShapeSignatureLength() else None
        given = self.shape
        if given is not None and not isinstance(given, Mapping):
            given = {name: list(given)}
        if given and name in given:
            want = [int(d) for d in given[name]]
            if len(want) != len(dims) or any(d <= 0 for d in want):
                raise DynamicShapeError(f"shape of input '{name}' must have rank {len(dims)} and positive "
                                        f"dimensions, got {want}")
            if want[0] != 1 or list(want[1:]) != dims[1:]:
                raise DynamicShapeError(f"shape of input '{name}': the model is compiled for {dims}; only its "
                                        "batch of 1 is supported")
        if given and set(given) - {self.tensor_name(self.graph.Inputs(i)) for i in range(self.graph.InputsLength())}:
            raise DynamicShapeError(f"shape given for {sorted(given)}, which are not all inputs of the model")
        if signature is not None and any(int(d) < 0 for d in signature[1:]):
            raise DynamicShapeError(f"input '{name}' has dynamic dimensions {list(signature)}: convert the model with "
                                    "static shapes")
        if not dims or dims[0] != 1:
            raise DynamicShapeError(f"input '{name}' has shape {dims}: batch 1 is supported")
        return dims

    # ------------------------------------------------------------------ graph
    def run(self) -> tvm.IRModule:
        self.check()
        params = []
        for i in range(self.graph.InputsLength()):
            index = self.graph.Inputs(i)
            scale, zp = self.act_qparams(index, f"input '{self.tensor_name(index)}'")
            shape = self.input_shape(index)
            var = relax.Var(_identifier(self.tensor_name(index)), relax.TensorType(shape, "int8"))
            params.append(var)
            self.values[index] = Value(var, tuple(shape), scale, zp)
        with self.bb.function("main", params):
            with self.bb.dataflow():
                for index, v in list(self.values.items()):  # the model's NHWC inputs, as NCHW
                    if len(v.shape) == 4:
                        self.name_hint = _identifier(self.tensor_name(index))
                        self.values[index] = replace(v, expr=self.bb.emit(relax.op.permute_dims(v.expr, list(_NCHW))))
                for k, (name, op) in enumerate(self.ops):
                    self.visit(k, name, op)
                outs = []
                for i in range(self.graph.OutputsLength()):
                    v = self.values[self.graph.Outputs(i)]
                    expr = self.bb.emit(relax.op.permute_dims(v.expr, list(_NHWC))) if len(v.shape) == 4 else v.expr
                    outs.append(self.bb.emit_output(expr))
            self.bb.emit_func_output(outs[0] if len(outs) == 1 else relax.Tuple(outs))
        return self.bb.get()

    def emit_te(self, func, *args, **kwargs) -> relax.Expr:
        return self.bb.emit(self.bb.call_te(func, *args, **kwargs), name_hint=self.name_hint)

    def options(self, op, cls):
        table = op.BuiltinOptions()
        opts = cls()
        if table is not None:
            opts.Init(table.Bytes, table.Pos)
        return opts

    def activation_range(self, fused: int, scale: float, zp: int, where: str) -> tuple[int, int]:
        """TFLite's CalculateActivationRangeQuantized: zp + round(f / scale), float32 division,
        rounded half away from zero."""
        def quantize(f: float) -> int:
            v = float(np.float32(f) / np.float32(scale))
            return zp + int(math.copysign(math.floor(abs(v) + 0.5), v))

        if fused == 0:
            return -128, 127
        if fused == 1:  # RELU
            return max(-128, quantize(0.0)), 127
        if fused == 2:  # RELU_N1_TO_1
            return max(-128, quantize(-1.0)), min(127, quantize(1.0))
        if fused == 3:  # RELU6
            return max(-128, quantize(0.0)), min(127, quantize(6.0))
        raise UnsupportedOperatorError(f"{where}: fused activation {fused} (TANH, SIGN_BIT) is not supported")

    def visit(self, k: int, name: str, op) -> None:
        out = op.Outputs(0)
        where = f"{name} operator #{k} '{self.tensor_name(out)}'"
        self.name_hint = _identifier(self.tensor_name(out))
        handler = getattr(self, f"op_{name.lower()}")
        self.values[out] = handler(op, where)

    def input_value(self, op, i: int, where: str) -> Value:
        index = op.Inputs(i)
        if index not in self.values:
            raise UnsupportedOperatorError(f"{where}: input '{self.tensor_name(index)}' is a constant; only "
                                           "weights and biases may be")
        return self.values[index]

    def _out(self, op, where: str) -> tuple[float, int, tuple[int, ...]]:
        scale, zp = self.act_qparams(op.Outputs(0), where)
        return scale, zp, self.tensor_shape(op.Outputs(0))

    # ------------------------------------------------------------------ operators
    def _multipliers(self, sx: float, sw: np.ndarray, sy: float, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """TFLite's per-channel multipliers: double(float32(sx * sw[c])) / double(sy)."""
        sw = np.broadcast_to(np.asarray(sw, np.float32).reshape(-1), (channels,))
        pairs = [tflite_quantize_multiplier(float(np.float32(np.float32(sx) * s)) / float(np.float32(sy)))
                 for s in sw]
        return np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32)

    def _bias(self, op, channels: int, where: str) -> np.ndarray:
        if op.InputsLength() < 3 or op.Inputs(2) < 0:
            return np.zeros(channels, np.int32)
        bias = self.constant(op.Inputs(2))
        if bias is None or bias.dtype != np.int32 or bias.size != channels:
            raise UnsupportedOperatorError(f"{where}: the bias must be a constant int32 vector of {channels} values")
        return bias.reshape(-1).astype(np.int32)

    def _weights(self, op, where: str) -> tuple[np.ndarray, np.ndarray]:
        index = op.Inputs(1)
        w = self.constant(index)
        if w is None or w.dtype != np.int8:
            raise UnsupportedOperatorError(f"{where}: the weights must be a constant int8 tensor")
        scale, zp, _ = self.quantization(index)
        if np.any(zp != 0):
            raise UnsupportedOperatorError(f"{where}: weights with a non-zero zero point are not supported")
        return w, scale

    @staticmethod
    def _padding(padding: int, size: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int]) -> list[int]:
        """TFLite's ComputePaddingHeightWidth: SAME puts the odd pixel after; VALID none."""
        return [0, 0, 0, 0] if padding == 1 else same_pads(size, kernel, strides, dilations)

    def _conv(self, op, where: str, depthwise: bool) -> Value:
        from tflite.Conv2DOptions import Conv2DOptions
        from tflite.DepthwiseConv2DOptions import DepthwiseConv2DOptions

        x = self.input_value(op, 0, where)
        sx, zx = x.scale, x.zero_point
        sy, zy, out_shape = self._out(op, where)
        w, sw = self._weights(op, where)
        opts = self.options(op, DepthwiseConv2DOptions if depthwise else Conv2DOptions)
        if depthwise:
            channels = w.shape[3]
            if channels != x.shape[3]:
                raise UnsupportedOperatorError(f"{where}: depth multiplier {channels // x.shape[3]} is not supported "
                                               "(1 only)")
            w_oihw = np.ascontiguousarray(w[0].transpose(2, 0, 1)[:, None])  # [1,KH,KW,C] -> [C,1,KH,KW]
        else:
            channels = w.shape[0]
            w_oihw = np.ascontiguousarray(w.transpose(0, 3, 1, 2))  # OHWI -> OIHW
        strides = [opts.StrideH(), opts.StrideW()]
        dilations = [opts.DilationHFactor(), opts.DilationWFactor()]
        pads = self._padding(opts.Padding(), x.shape[1:3], w_oihw.shape[2:], strides, dilations)
        bias = self._bias(op, channels, where)
        mult, shift = self._multipliers(sx, sw, sy, channels)
        lo, hi = self.activation_range(opts.FusedActivationFunction(), sy, zy, where)
        expr = self.emit_te(kernels.conv2d_nchw, x.expr, relax.const(w_oihw), relax.const(bias), relax.const(mult),
                            relax.const(shift), x_zero_point=zx, out=kernels.OutputRequant(zy, lo, hi, rounding=RULE_DOUBLE),
                            strides=strides, pads=pads, dilations=dilations, groups=channels if depthwise else 1)
        return Value(expr, out_shape, sy, zy)

    def op_conv_2d(self, op, where: str) -> Value:
        return self._conv(op, where, depthwise=False)

    def op_depthwise_conv_2d(self, op, where: str) -> Value:
        return self._conv(op, where, depthwise=True)

    def op_fully_connected(self, op, where: str) -> Value:
        from tflite.FullyConnectedOptions import FullyConnectedOptions

        x = self.input_value(op, 0, where)
        sy, zy, out_shape = self._out(op, where)
        w, sw = self._weights(op, where)
        opts = self.options(op, FullyConnectedOptions)
        if opts.WeightsFormat() != 0:
            raise UnsupportedOperatorError(f"{where}: shuffled weights are not supported")
        channels, depth = w.shape
        flat = self._flat(x, [int(np.prod(x.shape)) // depth, depth], where)
        bias = self._bias(op, channels, where)
        mult, shift = self._multipliers(x.scale, sw, sy, channels)
        lo, hi = self.activation_range(opts.FusedActivationFunction(), sy, zy, where)
        fast = fast_half_up_valid(mult, shift, zy, accumulator_bounds(w, bias, x.zero_point))
        expr = self.emit_te(kernels.dense, flat, relax.const(np.ascontiguousarray(w)), relax.const(bias),
                            relax.const(mult), relax.const(shift), x_zero_point=x.zero_point,
                            out=kernels.OutputRequant(zy, lo, hi, fast, RULE_HALF_UP))
        if len(out_shape) != 2:
            expr = self.bb.emit(relax.op.reshape(expr, list(out_shape)))
        return Value(expr, out_shape, sy, zy)

    def op_add(self, op, where: str) -> Value:
        from tflite.AddOptions import AddOptions

        a, b = self.input_value(op, 0, where), self.input_value(op, 1, where)
        sy, zy, out_shape = self._out(op, where)
        if a.shape != b.shape:
            raise UnsupportedOperatorError(f"{where}: broadcasting ADD ({a.shape} + {b.shape}) is not supported")
        twice = 2 * max(a.scale, b.scale)  # the float scales, in double, as TFLite
        ma, sa = tflite_quantize_multiplier(a.scale / twice)
        mb, sb = tflite_quantize_multiplier(b.scale / twice)
        mo, so = tflite_quantize_multiplier(twice / ((1 << kernels.TFLITE_ADD_LEFT_SHIFT) * sy))
        lo, hi = self.activation_range(self.options(op, AddOptions).FusedActivationFunction(), sy, zy, where)
        # an opaque function: the kernels' fused residual add has ONNX's rounding, not TFLite's
        expr = self.emit_te(kernels.add_tflite, a.expr, b.expr, a_zero_point=a.zero_point, b_zero_point=b.zero_point,
                            a_multiplier=ma, a_shift=sa, b_multiplier=mb, b_shift=sb, out_multiplier=mo,
                            out_shift=so, out_zero_point=zy, lo=lo, hi=hi, primfunc_attrs={"op_pattern": 8})
        return Value(expr, out_shape, sy, zy)

    def _pool(self, op, where: str):
        from tflite.Pool2DOptions import Pool2DOptions

        x = self.input_value(op, 0, where)
        sy, zy, out_shape = self._out(op, where)
        if (sy, zy) != (x.scale, x.zero_point):
            raise UnsupportedOperatorError(f"{where}: input and output quantization differ (TFLite requires them "
                                           "equal)")
        opts = self.options(op, Pool2DOptions)
        kernel = [opts.FilterHeight(), opts.FilterWidth()]
        strides = [opts.StrideH(), opts.StrideW()]
        pads = self._padding(opts.Padding(), x.shape[1:3], kernel, strides, [1, 1])
        lo, hi = self.activation_range(opts.FusedActivationFunction(), sy, zy, where)
        return x, out_shape, kernel, strides, pads, lo, hi

    def op_average_pool_2d(self, op, where: str) -> Value:
        x, out_shape, kernel, strides, pads, lo, hi = self._pool(op, where)
        if any(pads):
            raise UnsupportedOperatorError(f"{where}: AVERAGE_POOL_2D with padding is not supported (VALID only)")
        expr = self.emit_te(kernels.avg_pool2d_tflite, x.expr, kernel=kernel, strides=strides, lo=lo, hi=hi)
        return Value(expr, out_shape, x.scale, x.zero_point)

    def op_max_pool_2d(self, op, where: str) -> Value:
        x, out_shape, kernel, strides, pads, lo, hi = self._pool(op, where)
        # the maximum itself: M = 2^30, shift 1 multiplies by one exactly
        expr = self.emit_te(kernels.max_pool2d, x.expr, kernel=kernel, strides=strides, pads=pads, dilations=[1, 1],
                            x_zero_point=x.zero_point, multiplier=1 << 30, shift=1, out_zero_point=x.zero_point,
                            lo=lo, hi=hi)
        return Value(expr, out_shape, x.scale, x.zero_point)

    def _flat(self, x: Value, shape: list[int], where: str) -> relax.Expr:
        """``x`` reshaped to ``shape`` (not 4-D) in TFLite's NHWC element order."""
        expr = x.expr
        if list(x.shape) == list(shape):
            return expr
        if len(x.shape) == 4 and not (x.shape[1] == x.shape[2] == 1 or x.shape[3] == 1):
            expr = self.bb.emit(relax.op.permute_dims(expr, list(_NHWC)))
        if int(np.prod(shape)) != int(np.prod(x.shape)):
            raise UnsupportedOperatorError(f"{where}: cannot reshape {list(x.shape)} to {shape}")
        return self.bb.emit(relax.op.reshape(expr, shape))

    def op_reshape(self, op, where: str) -> Value:
        x = self.input_value(op, 0, where)
        sy, zy, out_shape = self._out(op, where)
        if (sy, zy) != (x.scale, x.zero_point):
            raise UnsupportedOperatorError(f"{where}: a reshape that changes the quantization is not supported")
        if len(out_shape) == 4:
            if len(x.shape) == 4 and list(x.shape) == list(out_shape):
                return Value(x.expr, out_shape, sy, zy)
            nhwc = self._flat(x, list(out_shape), where)
            return Value(self.bb.emit(relax.op.permute_dims(nhwc, list(_NCHW))), out_shape, sy, zy)
        return Value(self._flat(x, list(out_shape), where), out_shape, sy, zy)

    op_squeeze = op_reshape

    def op_softmax(self, op, where: str) -> Value:
        from tflite.SoftmaxOptions import SoftmaxOptions

        x = self.input_value(op, 0, where)
        sy, zy, out_shape = self._out(op, where)
        if len(x.shape) != 2:
            raise UnsupportedOperatorError(f"{where}: SOFTMAX of a {len(x.shape)}-D tensor is not supported (2-D)")
        beta = np.float32(self.options(op, SoftmaxOptions).Beta())
        scale = np.float32(-np.float32(x.scale) * beta)
        # TFLite's PopulateSoftmaxLookupTable: table[255 - d] = expf(scale * d), float32 operations
        table = np.zeros(256, np.float32)
        for d in range(256):
            table[255 - d] = np.float32(math.exp(float(np.float32(scale * np.float32(d)))))
        expr = self.emit_te(kernels.softmax_tflite, x.expr, relax.const(table), out_scale=sy, out_zero_point=zy)
        return Value(expr, out_shape, sy, zy)


def from_tflite(
    source: Union[str, Path], shape: Mapping[str, Sequence[int]] | Sequence[int] | None = None
) -> tuple[tvm.IRModule, dict[str, np.ndarray]]:
    """Import an int8 TensorFlow Lite model as a Relax IRModule whose kernels compute what the
    TFLite interpreter's reference kernels compute (see the module docstring). Returns
    ``(mod, params)`` like :func:`~tvm_stm32dvfs.from_onnx` (the weights are constants: no params)."""
    path = Path(source)
    return TfliteImporter(_read(path), path, shape).run(), {}
