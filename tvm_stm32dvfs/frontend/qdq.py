"""Import of quantized (QDQ) ONNX models as integer kernels.

A QDQ model marks int8 tensors with QuantizeLinear/DequantizeLinear pairs around float operators:
``DequantizeLinear -> Conv [-> Relu/Clip] -> QuantizeLinear``. TVM's ONNX importer would compute
such chains in float. This importer reads the same graph and emits one int8 kernel per chain
(:mod:`tvm_stm32dvfs.frontend.qnn.kernels`): int8 activations and weights, int32 accumulation, fixed-point
requantisation, activations folded into the clamp. The Relax module it builds has float inputs
(quantised by the first kernel) and float outputs (dequantised by the last), like the model.

A chain the kernels cannot express is an :class:`UnsupportedOperatorError` naming the node and the
pattern; nothing silently falls back to float. Float operators outside any chain (e.g. a Softmax
after the last DequantizeLinear) run in float, as the model says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnx
import tvm
from onnx import numpy_helper
from tvm import relax

from ..errors import UnsupportedOperatorError
from .qnn import kernels
from .qnn.requant import (accumulator_bounds, fast_requant_exact, fraction_bits, quantize_multiplier,
                           quantize_multipliers)

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
_ACTIVATIONS = frozenset({"Relu", "Clip"})
#: data movement that may follow a chain's operator before its QuantizeLinear
_RESHAPES = frozenset({"Reshape", "Flatten"})
#: operators whose bias a converter may write as a separate Add of a constant
_BIASED_OPS = frozenset({"MatMul", "Gemm", "Conv"})
#: operators with an int8 kernel when they sit between DequantizeLinear and QuantizeLinear
QUANTIZED_OPS = frozenset({
    "Conv", "Gemm", "MatMul", "Add", "Mul", "GlobalAveragePool", "AveragePool", "MaxPool", "ReduceMean",
    "BatchNormalization", "Softmax", "Reshape", "Flatten", "Transpose", "Identity", "Concat", "Relu", "Clip",
})
#: data movement allowed directly on int8 tensors (QOperator graphs)
INT8_MOVEMENT_OPS = frozenset({"Flatten", "Reshape", "Transpose", "Identity"})
#: operators run in float when the model has them outside any quantized chain (e.g. a Softmax
#: after the last DequantizeLinear, a pooling of the float input before the first QuantizeLinear)
FLOAT_OPS = frozenset({"Softmax", "Flatten", "Reshape", "Identity", "Relu", "AveragePool", "MaxPool",
                       "GlobalAveragePool"})


def is_qdq_model(model: onnx.ModelProto) -> bool:
    return any(n.op_type in QDQ_OPS for n in model.graph.node)


def same_pads(spatial, kernel, strides, dilations, odd_after: bool = True) -> list[int]:
    """[top, left, bottom, right] padding of a SAME convolution or pool (output = ceil(size /
    stride)); an odd total puts the extra pixel after (ONNX SAME_UPPER, TFLite SAME) or before
    (SAME_LOWER)."""
    begin, end = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begin.append(small if odd_after else big)
        end.append(big if odd_after else small)
    return [begin[0], begin[1], end[0], end[1]]


@dataclass(frozen=True)
class Tensor:
    """A value of the graph being built: a Relax expression, float or int8 with its quant params."""

    expr: relax.Expr
    dtype: str
    scale: float = 1.0
    zero_point: int = 0


@dataclass(frozen=True)
class ConstQ:
    """A quantized constant (DequantizeLinear of an initializer)."""

    q: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int


class QdqImporter:
    def __init__(self, model: onnx.ModelProto, shapes: dict[str, list[int]]) -> None:
        self.model = model
        self.graph = model.graph
        self.shapes = shapes
        self.init: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.graph.node:
            for o in node.output:
                self.producer[o] = node
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)
        self.values: dict[str, Tensor] = {}
        self.lazy_dq: dict[str, tuple[str, float, int]] = {}  # DQ output -> (int8 tensor, scale, zp)
        self.const_dq: dict[str, ConstQ] = {}
        self.deferred: set[str] = set()  # names of nodes emitted at their QuantizeLinear
        self.bias_adds: dict[str, tuple[onnx.NodeProto, str]] = {}  # bias Add -> (its op, the bias)
        self.extra_bias: dict[str, str] = {}  # op -> the bias a following Add gives it
        self.bb = relax.BlockBuilder()
        self.name_hint = ""  # the model tensor the kernel being emitted computes

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def label(node: onnx.NodeProto) -> str:
        return f"{node.op_type} node '{node.name or node.output[0]}'"

    def fail(self, node: onnx.NodeProto, what: str) -> UnsupportedOperatorError:
        return UnsupportedOperatorError(f"{self.label(node)}: {what}")

    def attrs(self, node: onnx.NodeProto) -> dict:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def const(self, name: str, node: onnx.NodeProto) -> np.ndarray:
        """A constant input: an initializer, or a DequantizeLinear of one (dequantised here)."""
        if name in self.const_dq:
            c = self.const_dq[name]
            shape = [1] * c.q.ndim
            if np.asarray(c.scale).size > 1:
                shape[c.axis] = -1
            return (c.q.astype(np.float64) - np.reshape(np.asarray(c.zero_point, np.float64), shape)) * np.reshape(
                np.asarray(c.scale, np.float64), shape)
        if name not in self.init:
            raise self.fail(node, f"input '{name}' must be a constant (an initializer)")
        return self.init[name]

    def act_qparams(self, node: onnx.NodeProto) -> tuple[float, int]:
        """Per-tensor int8 scale and zero point of a QuantizeLinear/DequantizeLinear of an activation."""
        scale = np.asarray(self.const(node.input[1], node), dtype=np.float64)
        if len(node.input) > 2 and node.input[2]:
            zp = self.const(node.input[2], node)
        else:
            zp = np.zeros((), dtype=np.uint8)
        if scale.size != 1 or np.asarray(zp).size != 1:
            raise self.fail(node, "per-channel quantization of an activation is not supported (per-tensor only)")
        if zp.dtype != np.int8:
            raise self.fail(
                node, f"{zp.dtype} activations are not supported: the kernels take int8 activations "
                "(quantize with activation_type=QInt8)"
            )
        return float(scale.reshape(-1)[0]), int(np.asarray(zp).reshape(-1)[0])

    def emit_te(self, func: Callable, *args, **kwargs) -> relax.Expr:
        """Emit a TE kernel; its result is named after the model's tensor it computes, so the
        generated C names activations and weights as the model does."""
        return self.bb.emit(self.bb.call_te(func, *args, **kwargs), name_hint=self.name_hint)

    def int8_input(self, name: str, node: onnx.NodeProto) -> Tensor:
        """The int8 tensor behind a DequantizeLinear output used by a quantized chain."""
        if name in self.lazy_dq:
            src, scale, zp = self.lazy_dq[name]
            return Tensor(self.values[src].expr, "int8", scale, zp)
        if name in self.const_dq:
            c = self.const_dq[name]
            if c.scale.size != 1:
                raise self.fail(node, f"constant '{name}' with per-channel scales used as an activation")
            if c.q.dtype != np.int8:
                raise self.fail(node, f"constant '{name}' is {c.q.dtype}, not int8")
            return Tensor(relax.const(c.q), "int8", float(c.scale.reshape(-1)[0]), int(c.zero_point.reshape(-1)[0]))
        raise self.fail(node, f"input '{name}' is not the output of a DequantizeLinear (QDQ pattern expected)")

    def float_input(self, name: str, node: onnx.NodeProto) -> Tensor:
        """A float value; a DequantizeLinear output is materialised by a dequantize kernel."""
        if name in self.values and self.values[name].dtype == "float32":
            return self.values[name]
        if name in self.lazy_dq:
            t = self.int8_input(name, node)
            v = Tensor(self.emit_te(kernels.dequantize, t.expr, scale=t.scale, zero_point=t.zero_point), "float32")
            self.values[name] = v
            return v
        raise self.fail(node, f"input '{name}' is not a float tensor")

    # ------------------------------------------------------------------ graph walk
    def run(self) -> tvm.IRModule:
        inits = set(self.init)
        params = []
        for inp in self.graph.input:
            if inp.name in inits:
                continue
            et = inp.type.tensor_type.elem_type
            dtype = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT8: "int8"}.get(et)
            if dtype is None:
                raise UnsupportedOperatorError(
                    f"input '{inp.name}' has element type {onnx.TensorProto.DataType.Name(et)}; "
                    "quantized models take float32 or int8 inputs"
                )
            var = relax.Var(inp.name, relax.TensorType(self.shapes[inp.name], dtype))
            params.append(var)
            self.values[inp.name] = Tensor(var, dtype)
        self._mark_deferred()
        with self.bb.function("main", params):
            with self.bb.dataflow():
                for node in self.graph.node:
                    self.visit(node)
                outs = []
                for out in self.graph.output:
                    v = self.output_value(out.name)
                    outs.append(self.bb.emit_output(v.expr))
            self.bb.emit_func_output(outs[0] if len(outs) == 1 else relax.Tuple(outs))
        return self.bb.get()

    def output_value(self, name: str) -> Tensor:
        if name in self.values:
            return self.values[name]
        producer = self.producer.get(name)
        if producer is None:
            raise UnsupportedOperatorError(f"graph output '{name}' is not produced by any node")
        return self.float_input(name, producer)

    def _is_constant(self, name: str) -> bool:
        """An initializer, a Constant node's output, or a DequantizeLinear of an initializer."""
        if name in self.init:
            return True
        producer = self.producer.get(name)
        if producer is None:
            return False
        if producer.op_type == "Constant":
            return True
        return producer.op_type == "DequantizeLinear" and self._is_constant(producer.input[0])

    def _find_bias_adds(self) -> None:
        """``MatMul/Conv/Gemm -> Add(constant)``: converters (tf2onnx, PyTorch's exporter) write a
        layer's bias as a float Add after the op; the int8 kernel folds it into its int32 bias."""
        for node in self.graph.node:
            if node.op_type != "Add" or len(node.input) != 2:
                continue
            for k in (0, 1):
                op = self.producer.get(node.input[k])
                if (op is not None and op.op_type in _BIASED_OPS and self._is_constant(node.input[1 - k])
                        and len(self.consumers.get(node.input[k], [])) == 1 and len(op.output) == 1):
                    self.bias_adds[node.name or node.output[0]] = (op, node.input[1 - k])
                    self.extra_bias[op.name or op.output[0]] = node.input[1 - k]
                    break

    def _mark_deferred(self) -> None:
        """Nodes computed by the int8 kernel emitted at the QuantizeLinear that ends their chain."""
        self._find_bias_adds()
        for node in self.graph.node:
            if node.op_type in QDQ_OPS or node.op_type == "Constant":
                continue
            chain_end = node
            while True:
                cons = self.consumers.get(chain_end.output[0], [])
                if len(cons) != 1 or len(chain_end.output) != 1:
                    break
                nxt = cons[0]
                if nxt.op_type == "QuantizeLinear":
                    self.deferred.add(node.name or node.output[0])
                    break
                if nxt.op_type in _ACTIVATIONS or nxt.op_type in _RESHAPES or (
                        chain_end is node and self._bias_add_of(nxt) is node):
                    chain_end = nxt
                    continue
                break

    def _bias_add_of(self, node: onnx.NodeProto) -> onnx.NodeProto | None:
        """The op whose bias ``node`` adds, if ``node`` is a bias Add."""
        entry = self.bias_adds.get(node.name or node.output[0])
        return entry[0] if entry else None

    def is_deferred(self, node: onnx.NodeProto) -> bool:
        return (node.name or node.output[0]) in self.deferred

    def visit(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        self.name_hint = _identifier(node.output[0]) if node.output else ""
        if node.domain not in ("", "ai.onnx"):
            raise self.fail(node, f"operator domain '{node.domain}' is not supported")
        if op == "Constant":
            self.init[node.output[0]] = numpy_helper.to_array(self.attrs(node)["value"])
        elif op == "DequantizeLinear":
            self.visit_dequantize(node)
        elif op == "QuantizeLinear":
            self.visit_quantize(node)
        elif self.is_deferred(node):
            return
        elif op in INT8_MOVEMENT_OPS and node.input[0] in self.values and self.values[node.input[0]].dtype == "int8":
            self.visit_int8_movement(node)
        elif op in FLOAT_OPS:
            self.visit_float(node)
        else:
            raise self.fail(
                node, "this operator runs in float in the model (it is outside any DequantizeLinear -> "
                "QuantizeLinear chain) and has no float kernel in quantized models; quantize it too "
                f"(int8 kernels: {', '.join(sorted(QUANTIZED_OPS))})"
            )

    def visit_dequantize(self, node: onnx.NodeProto) -> None:
        x = node.input[0]
        if x in self.init:
            q = self.init[x]
            scale = np.asarray(self.const(node.input[1], node), dtype=np.float64)
            zp = self.const(node.input[2], node) if len(node.input) > 2 and node.input[2] else np.zeros((), q.dtype)
            axis = int(self.attrs(node).get("axis", 1))
            self.const_dq[node.output[0]] = ConstQ(q, scale, np.asarray(zp), axis)
            return
        if x in self.values and self.values[x].dtype == "int8":
            scale, zp = self.act_qparams(node)
            self.lazy_dq[node.output[0]] = (x, scale, zp)
            return
        raise self.fail(node, f"dequantizes '{x}', which is neither an int8 tensor nor an initializer")

    def visit_quantize(self, node: onnx.NodeProto) -> None:
        x = node.input[0]
        out = node.output[0]
        if x in self.init:  # fake-quantized constant: quantize it now
            scale = np.asarray(self.const(node.input[1], node), dtype=np.float64)
            zp = self.const(node.input[2], node) if len(node.input) > 2 and node.input[2] else np.zeros((), np.uint8)
            axis = int(self.attrs(node).get("axis", 1))
            arr = np.asarray(self.init[x], dtype=np.float64)
            shape = [1] * arr.ndim
            if np.asarray(scale).size > 1:
                shape[axis] = -1
            q = np.rint(arr / np.reshape(scale, shape)) + np.reshape(np.asarray(zp, np.float64), shape)
            info = np.iinfo(np.asarray(zp).dtype)
            self.init[out] = np.clip(q, info.min, info.max).astype(np.asarray(zp).dtype)
            return
        so, zo = self.act_qparams(node)
        producer = self.producer.get(x)
        if x in self.lazy_dq:  # DequantizeLinear -> QuantizeLinear: a requantisation
            t = self.int8_input(x, node)
            self.values[out] = self.rescale(t, so, zo, -128, 127)
            return
        if producer is not None and self.is_deferred(producer):
            self.values[out] = self.emit_chain(producer, node, so, zo)
            return
        if x in self.values and self.values[x].dtype == "float32":
            expr = self.emit_te(kernels.quantize, self.values[x].expr, scale=so, zero_point=zo)
            self.values[out] = Tensor(expr, "int8", so, zo)
            return
        raise self.fail(node, f"quantizes '{x}', which is not a float tensor this importer produced")

    def visit_int8_movement(self, node: onnx.NodeProto) -> None:
        """Data movement straight on an int8 tensor (onnxruntime's QOperator graphs reshape
        quantized tensors without QuantizeLinear/DequantizeLinear): same scale and zero point."""
        x = self.values[node.input[0]]
        if node.op_type == "Transpose":
            perm = self.attrs(node).get("perm")
            expr = self.bb.emit(relax.op.permute_dims(x.expr, [int(p) for p in perm] if perm else None))
        elif node.op_type == "Identity":
            expr = x.expr
        else:
            expr = self.bb.emit(relax.op.reshape(x.expr, self.reshaped(node, self.shape_of(x))))
        self.values[node.output[0]] = Tensor(expr, "int8", x.scale, x.zero_point)

    # ------------------------------------------------------------------ float ops
    def visit_float(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        x = self.float_input(node.input[0], node)
        a = self.attrs(node)
        if op == "Softmax":
            axis = int(a.get("axis", -1))
            expr = self.bb.emit(relax.op.nn.softmax(x.expr, axis=axis))
        elif op == "Identity":
            expr = x.expr
        elif op == "Relu":
            expr = self.bb.emit(relax.op.nn.relu(x.expr))
        elif op == "GlobalAveragePool":
            expr = self.bb.emit(relax.op.mean(x.expr, axis=[2, 3], keepdims=True))
        elif op in ("AveragePool", "MaxPool"):
            if a.get("ceil_mode", 0) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise self.fail(node, "float pooling with ceil_mode or auto_pad is not supported in quantized models")
            pads = [int(v) for v in a.get("pads", [0, 0, 0, 0])]
            kwargs = dict(pool_size=[int(v) for v in a["kernel_shape"]], strides=[int(v) for v in a.get("strides", [1, 1])],
                          padding=[pads[0], pads[1], pads[2], pads[3]])
            if op == "MaxPool":
                if len([o for o in node.output if o]) > 1:
                    raise self.fail(node, "the Indices output is not supported")
                expr = self.bb.emit(relax.op.nn.max_pool2d(x.expr, dilation=[int(v) for v in a.get("dilations", [1, 1])], **kwargs))
            else:
                expr = self.bb.emit(relax.op.nn.avg_pool2d(x.expr, count_include_pad=bool(a.get("count_include_pad", 0)), **kwargs))
        else:
            expr = self.bb.emit(relax.op.reshape(x.expr, self.reshaped(node, self.shape_of(x))))
        self.values[node.output[0]] = Tensor(expr, "float32")

    # ------------------------------------------------------------------ shapes
    @staticmethod
    def shape_of(t: Tensor) -> list[int]:
        return [int(d.value) for d in t.expr.ty.shape.values]

    def reshaped(self, node: onnx.NodeProto, shape: list[int]) -> list[int]:
        op = node.op_type
        a = self.attrs(node)
        if op == "Flatten":
            axis = int(a.get("axis", 1))
            axis = axis + len(shape) if axis < 0 else axis
            return [int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))]
        if op == "Reshape":
            target = [int(v) for v in self.const(node.input[1], node).reshape(-1)]
            allowzero = int(a.get("allowzero", 0))
            target = [shape[i] if (v == 0 and not allowzero) else v for i, v in enumerate(target)]
            if -1 in target:
                known = int(np.prod([v for v in target if v != -1]))
                target[target.index(-1)] = int(np.prod(shape)) // known
            if int(np.prod(target)) != int(np.prod(shape)):
                raise self.fail(node, f"cannot reshape {shape} to {target}")
            return target
        raise self.fail(node, "not a reshape")

    # ------------------------------------------------------------------ int8 chains
    def clamp_bounds(self, activations: list[onnx.NodeProto], so: float, zo: int) -> tuple[int, int]:
        lo, hi = -128, 127
        for act in activations:
            if act.op_type == "Relu":
                lo = max(lo, zo)
                continue
            a = self.attrs(act)
            mins = [a["min"]] if "min" in a else []
            maxs = [a["max"]] if "max" in a else []
            if len(act.input) > 1 and act.input[1]:
                mins.append(float(self.const(act.input[1], act).reshape(-1)[0]))
            if len(act.input) > 2 and act.input[2]:
                maxs.append(float(self.const(act.input[2], act).reshape(-1)[0]))
            for m in mins:
                lo = max(lo, min(127, zo + int(np.rint(m / so))))
            for m in maxs:
                hi = min(hi, max(-128, zo + int(np.rint(m / so))))
        return lo, hi

    def rescale(self, t: Tensor, so: float, zo: int, lo: int, hi: int) -> Tensor:
        if t.scale == so and t.zero_point == zo and (lo, hi) == (-128, 127):
            return Tensor(t.expr, "int8", so, zo)
        m, s = quantize_multiplier(t.scale / so)
        expr = self.emit_te(kernels.rescale, t.expr, x_zero_point=t.zero_point, multiplier=m, shift=s,
                            out_zero_point=zo, lo=lo, hi=hi)
        return Tensor(expr, "int8", so, zo)

    def emit_chain(self, last: onnx.NodeProto, q: onnx.NodeProto, so: float, zo: int) -> Tensor:
        self.name_hint = _identifier(last.output[0])  # the float value the int8 result stands for
        activations, reshapes = [], []
        node = last
        while (node.op_type in _ACTIVATIONS or node.op_type in _RESHAPES) and node.input[0] in self.producer \
                and self.is_deferred(self.producer[node.input[0]]):
            (activations if node.op_type in _ACTIVATIONS else reshapes).append(node)
            node = self.producer[node.input[0]]
        lo, hi = self.clamp_bounds(activations, so, zo)
        op = self._bias_add_of(node)
        if op is not None and self.is_deferred(op):
            node = op  # its handler adds the bias (extra_bias)
        handler = getattr(self, f"chain_{node.op_type.lower()}", None)
        if handler is None:
            raise self.fail(node, f"no int8 kernel for {node.op_type} between DequantizeLinear and QuantizeLinear")
        result = handler(node, so, zo, lo, hi)
        for movement in reversed(reshapes):  # data movement commutes with the quantization
            shape = self.reshaped(movement, self.shape_of(result))
            result = Tensor(self.bb.emit(relax.op.reshape(result.expr, shape)), "int8", so, zo)
        return result

    def chain_reducemean(self, node, so, zo, lo, hi) -> Tensor:
        """The mean over the spatial axes of an NCHW tensor (PyTorch's AdaptiveAvgPool2d(1)):
        a global average pool."""
        x = self.int8_input(node.input[0], node)
        shape = self.shape_of(x)
        a = self.attrs(node)
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self.const(node.input[1], node).reshape(-1).tolist()
        if len(shape) != 4 or sorted(int(v) % 4 for v in (axes or [])) != [2, 3]:
            raise self.fail(node, "int8 ReduceMean is supported over the spatial axes of an NCHW tensor only")
        pooled = self._avg_pool(x, shape[2:], [1, 1], so, zo, lo, hi)
        if int(a.get("keepdims", 1)):
            return pooled
        return Tensor(self.bb.emit(relax.op.reshape(pooled.expr, shape[:2])), "int8", so, zo)

    def _weights(self, node: onnx.NodeProto, name: str, channels_axis: int) -> tuple[np.ndarray, np.ndarray]:
        if name not in self.const_dq:
            raise self.fail(node, f"weight '{name}' must be a DequantizeLinear of an int8 initializer")
        c = self.const_dq[name]
        if c.q.dtype != np.int8:
            raise self.fail(node, f"{c.q.dtype} weights are not supported (int8 symmetric weights expected)")
        if np.any(np.asarray(c.zero_point) != 0):
            raise self.fail(node, "weights with a non-zero zero point are not supported (quantize weights symmetric)")
        channels = c.q.shape[channels_axis]
        scale = np.asarray(c.scale, dtype=np.float64).reshape(-1)
        if scale.size == 1:
            scale = np.full(channels, scale[0])
        elif c.axis % c.q.ndim != channels_axis or scale.size != channels:
            raise self.fail(node, f"weight '{name}' is quantized per channel along axis {c.axis}, "
                                  f"expected the output-channel axis {channels_axis}")
        return c.q, scale

    def _bias(self, node: onnx.NodeProto, name: str | None, expected_scale: np.ndarray) -> np.ndarray:
        """The int32 bias at scale input x weight: the op's own bias operand plus the constant of a
        bias Add after it (each must be a constant vector over the output channels)."""
        channels = expected_scale.size
        names = [n for n in (name, self.extra_bias.get(node.name or node.output[0])) if n]
        real = np.zeros(channels, dtype=np.float64)
        for n in names:
            if n in self.const_dq:
                c = self.const_dq[n]
                value = (c.q.astype(np.float64) - np.asarray(c.zero_point, np.float64)) * np.asarray(c.scale, np.float64)
            elif n in self.init:
                value = np.asarray(self.init[n], dtype=np.float64)
            else:
                raise self.fail(node, f"bias '{n}' must be a constant")
            if value.size not in (1, channels):
                raise self.fail(node, f"bias '{n}' has {value.size} values for {channels} output channels")
            real = real + np.broadcast_to(value.reshape(-1), (channels,))
        if not names:
            return np.zeros(channels, dtype=np.int32)
        q = np.rint(real / expected_scale)
        if np.any(np.abs(q) > 2**31 - 1):
            raise self.fail(node, "bias does not fit int32 at scale input x weight")
        return q.astype(np.int32)

    def chain_conv(self, node, so, zo, lo, hi) -> Tensor:
        a = self.attrs(node)
        x = self.int8_input(node.input[0], node)
        w, sw = self._weights(node, node.input[1], 0)
        if w.ndim != 4:
            raise self.fail(node, f"{w.ndim - 2}-D convolution has no int8 kernel (2-D only)")
        kh, kw = w.shape[2:]
        strides = [int(v) for v in a.get("strides", [1, 1])]
        dilations = [int(v) for v in a.get("dilations", [1, 1])]
        pads = self._conv_pads(node, a, self.shape_of(x)[2:], [kh, kw], strides, dilations)
        bias = self._bias(node, node.input[2] if len(node.input) > 2 else None, x.scale * sw)
        mult, shift = quantize_multipliers(x.scale * sw / so)
        fast = fast_requant_exact(mult, shift, zo, accumulator_bounds(w, bias, x.zero_point))
        expr = self.emit_te(
            kernels.conv2d_nchw, x.expr, relax.const(w), relax.const(bias), relax.const(mult), relax.const(shift),
            x_zero_point=x.zero_point, out=kernels.OutputRequant(zo, lo, hi, fast), strides=strides,
            pads=[pads[0], pads[1], pads[2], pads[3]], dilations=dilations, groups=int(a.get("group", 1)),
        )
        return Tensor(expr, "int8", so, zo)

    def _conv_pads(self, node, a, spatial, kernel, strides, dilations) -> list[int]:
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("NOTSET", ""):
            pads = [int(v) for v in a.get("pads", [0, 0, 0, 0])]
            return [pads[0], pads[1], pads[2], pads[3]]
        if auto == "VALID":
            return [0, 0, 0, 0]
        return same_pads(spatial, kernel, strides, dilations, odd_after=auto == "SAME_UPPER")

    def chain_gemm(self, node, so, zo, lo, hi) -> Tensor:
        a = self.attrs(node)
        if a.get("transA", 0) or float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0:
            raise self.fail(node, "Gemm with transA or alpha/beta != 1 has no int8 kernel")
        trans_b = bool(a.get("transB", 0))
        return self._dense(node, node.input[2] if len(node.input) > 2 else None, trans_b, so, zo, lo, hi)

    def chain_matmul(self, node, so, zo, lo, hi) -> Tensor:
        return self._dense(node, None, False, so, zo, lo, hi)

    def _dense(self, node, bias_name, trans_b, so, zo, lo, hi) -> Tensor:
        x = self.int8_input(node.input[0], node)
        if len(self.shape_of(x)) != 2:
            raise self.fail(node, "int8 dense takes a 2-D input (flatten first)")
        w, sw = self._weights(node, node.input[1], 0 if trans_b else 1)
        if w.ndim != 2:
            raise self.fail(node, "int8 dense takes a 2-D constant weight")
        w_nk = np.ascontiguousarray(w if trans_b else w.T)
        bias = self._bias(node, bias_name, x.scale * sw)
        mult, shift = quantize_multipliers(x.scale * sw / so)
        fast = fast_requant_exact(mult, shift, zo, accumulator_bounds(w_nk, bias, x.zero_point))
        expr = self.emit_te(kernels.dense, x.expr, relax.const(w_nk), relax.const(bias), relax.const(mult),
                            relax.const(shift), x_zero_point=x.zero_point, out=kernels.OutputRequant(zo, lo, hi, fast))
        return Tensor(expr, "int8", so, zo)

    def chain_add(self, node, so, zo, lo, hi) -> Tensor:
        a = self.int8_input(node.input[0], node)
        b = self.int8_input(node.input[1], node)
        bits = fraction_bits(255.0 * (a.scale + b.scale) / so + 1.0)
        if bits < 8:
            raise self.fail(node, "input scales too large against the output scale for an int8 add")
        expr = self.emit_te(kernels.add, a.expr, b.expr, a_zero_point=a.zero_point, b_zero_point=b.zero_point,
                            a_factor=int(np.rint(a.scale / so * 2.0**bits)),
                            b_factor=int(np.rint(b.scale / so * 2.0**bits)), bits=bits, out_zero_point=zo,
                            lo=lo, hi=hi)
        return Tensor(expr, "int8", so, zo)

    def chain_mul(self, node, so, zo, lo, hi) -> Tensor:
        a = self.int8_input(node.input[0], node)
        b = self.int8_input(node.input[1], node)
        m, s = quantize_multiplier(a.scale * b.scale / so)
        expr = self.emit_te(kernels.mul, a.expr, b.expr, a_zero_point=a.zero_point, b_zero_point=b.zero_point,
                            multiplier=m, shift=s, out_zero_point=zo, lo=lo, hi=hi)
        return Tensor(expr, "int8", so, zo)

    def chain_globalaveragepool(self, node, so, zo, lo, hi) -> Tensor:
        x = self.int8_input(node.input[0], node)
        shape = self.shape_of(x)
        if len(shape) != 4:
            raise self.fail(node, "int8 pooling takes NCHW tensors")
        return self._avg_pool(x, shape[2:], [1, 1], so, zo, lo, hi)

    def chain_averagepool(self, node, so, zo, lo, hi) -> Tensor:
        a = self.attrs(node)
        x = self.int8_input(node.input[0], node)
        if len(self.shape_of(x)) != 4:
            raise self.fail(node, "int8 pooling takes NCHW tensors")
        if any(int(p) for p in a.get("pads", [])) or a.get("ceil_mode", 0) or a.get("auto_pad", b"NOTSET") not in (
            b"NOTSET", "NOTSET", b"VALID", "VALID"
        ):
            raise self.fail(node, "int8 AveragePool with padding or ceil_mode has no kernel")
        kernel = [int(v) for v in a["kernel_shape"]]
        strides = [int(v) for v in a.get("strides", [1, 1])]
        return self._avg_pool(x, kernel, strides, so, zo, lo, hi)

    def _avg_pool(self, x, kernel, strides, so, zo, lo, hi) -> Tensor:
        m, s = quantize_multiplier(x.scale / (so * kernel[0] * kernel[1]))
        expr = self.emit_te(kernels.avg_pool2d, x.expr, kernel=kernel, strides=strides, x_zero_point=x.zero_point,
                            multiplier=m, shift=s, out_zero_point=zo, lo=lo, hi=hi)
        return Tensor(expr, "int8", so, zo)

    def chain_maxpool(self, node, so, zo, lo, hi) -> Tensor:
        a = self.attrs(node)
        x = self.int8_input(node.input[0], node)
        if len(self.shape_of(x)) != 4 or a.get("ceil_mode", 0) or int(a.get("storage_order", 0)):
            raise self.fail(node, "int8 MaxPool takes NCHW tensors without ceil_mode")
        kernel = [int(v) for v in a["kernel_shape"]]
        strides = [int(v) for v in a.get("strides", [1, 1])]
        dilations = [int(v) for v in a.get("dilations", [1, 1])]
        pads = self._conv_pads(node, a, self.shape_of(x)[2:], kernel, strides, dilations)
        m, s = quantize_multiplier(x.scale / so)
        expr = self.emit_te(kernels.max_pool2d, x.expr, kernel=kernel, strides=strides, pads=pads,
                            dilations=dilations, x_zero_point=x.zero_point, multiplier=m, shift=s,
                            out_zero_point=zo, lo=lo, hi=hi)
        return Tensor(expr, "int8", so, zo)

    def chain_batchnormalization(self, node, so, zo, lo, hi) -> Tensor:
        x = self.int8_input(node.input[0], node)
        a = self.attrs(node)
        gamma, beta, mean, var = (np.asarray(self.const(n, node), np.float64) for n in node.input[1:5])
        k = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
        slope = k * x.scale / so  # output LSBs per input LSB
        offset = (beta - mean * k) / so  # output LSBs
        # the most fraction bits that keep |(x - zx) * A + B| inside int32 for any int8 x
        bits = fraction_bits(255.0 * float(np.max(np.abs(slope))) + float(np.max(np.abs(offset))) + 1.0)
        if bits < 8:
            raise self.fail(node, "per-channel scale or shift too large for an int8 kernel")
        a_q = np.rint(slope * 2.0**bits).astype(np.int32)
        b_q = np.rint(offset * 2.0**bits).astype(np.int32)
        expr = self.emit_te(kernels.channel_affine, x.expr, relax.const(a_q), relax.const(b_q),
                            x_zero_point=x.zero_point, fraction_bits=bits, out_zero_point=zo, lo=lo, hi=hi)
        return Tensor(expr, "int8", so, zo)

    def chain_softmax(self, node, so, zo, lo, hi) -> Tensor:
        x = self.int8_input(node.input[0], node)
        axis = int(self.attrs(node).get("axis", -1))
        expr = self.emit_te(kernels.softmax, x.expr, axis=axis, x_scale=x.scale, x_zero_point=x.zero_point,
                            out_scale=so, out_zero_point=zo)
        t = Tensor(expr, "int8", so, zo)
        return self.rescale(t, so, zo, lo, hi) if (lo, hi) != (-128, 127) else t

    def _movement(self, node, so, zo, lo, hi, make) -> Tensor:
        x = self.int8_input(node.input[0], node)
        expr = self.bb.emit(make(x))
        return self.rescale(Tensor(expr, "int8", x.scale, x.zero_point), so, zo, lo, hi)

    def chain_reshape(self, node, so, zo, lo, hi) -> Tensor:
        return self._movement(node, so, zo, lo, hi,
                              lambda x: relax.op.reshape(x.expr, self.reshaped(node, self.shape_of(x))))

    chain_flatten = chain_reshape

    def chain_transpose(self, node, so, zo, lo, hi) -> Tensor:
        perm = self.attrs(node).get("perm")
        return self._movement(node, so, zo, lo, hi,
                              lambda x: relax.op.permute_dims(x.expr, [int(p) for p in perm] if perm else None))

    def chain_identity(self, node, so, zo, lo, hi) -> Tensor:
        return self.rescale(self.int8_input(node.input[0], node), so, zo, lo, hi)

    def chain_relu(self, node, so, zo, lo, hi) -> Tensor:
        lo2, hi2 = self.clamp_bounds([node], so, zo)
        return self.rescale(self.int8_input(node.input[0], node), so, zo, max(lo, lo2), min(hi, hi2))

    chain_clip = chain_relu

    def chain_concat(self, node, so, zo, lo, hi) -> Tensor:
        axis = int(self.attrs(node)["axis"])
        parts = [self.rescale(self.int8_input(n, node), so, zo, -128, 127).expr for n in node.input]
        expr = self.bb.emit(relax.op.concat(parts, axis=axis))
        return self.rescale(Tensor(expr, "int8", so, zo), so, zo, lo, hi)


def _identifier(name: str) -> str:
    """A model tensor name as a C-friendly identifier (the C emitter makes it unique)."""
    text = "".join(c if c.isalnum() or c == "_" else "_" for c in name).strip("_")
    return text if text and not text[0].isdigit() else f"t_{text}"


def import_qdq(model: onnx.ModelProto, shapes: dict[str, list[int]]) -> tvm.IRModule:
    """Build the Relax module of a QDQ model (see the module docstring)."""
    return QdqImporter(model, shapes).run()
