"""Rewrite onnxruntime's QOperator forms to the equivalent QDQ form before import.

TVM's ONNX frontend rejects QLinearConv, QLinearMatMul and the com.microsoft QLinearAdd,
QLinearMul, QLinearAveragePool, QLinearGlobalAveragePool and QLinearConcat, which
``quantize_static(..., quant_format=QuantFormat.QOperator)`` emits. Each becomes
``DequantizeLinear`` on its quantized inputs, the float operator, and ``QuantizeLinear`` with the
output scale and zero point — the QDQ chain that ``qdq.py`` turns into one int8 kernel. A
QLinearConv bias (int32 at scale x_scale * w_scale, zero point 0) is dequantized with that scale.
ConvInteger / MatMulInteger (dynamic quantization, int32 results scaled at run time) have no
static int8 form and are rejected naming the node.
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import UnsupportedOperatorError

MS_DOMAIN = "com.microsoft"
QOPERATORS = {"QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul", "QLinearAveragePool",
              "QLinearGlobalAveragePool", "QLinearConcat", "ConvInteger", "MatMulInteger"}


def is_qoperator_model(model: onnx.ModelProto) -> bool:
    return any(n.op_type in QOPERATORS for n in model.graph.node)


class _Rewriter:
    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = copy.deepcopy(model)
        self.graph = self.model.graph
        self.inits = {i.name: i for i in self.graph.initializer}
        self.nodes: list[onnx.NodeProto] = []
        self.counter = 0

    def fresh(self, base: str) -> str:
        self.counter += 1
        return f"{base}__qdq{self.counter}"

    def const(self, name: str, node: onnx.NodeProto) -> np.ndarray:
        if name not in self.inits:
            raise UnsupportedOperatorError(f"{node.op_type} node '{node.name}': '{name}' must be an initializer")
        return numpy_helper.to_array(self.inits[name])

    def add_init(self, base: str, array: np.ndarray) -> str:
        name = self.fresh(base)
        tensor = numpy_helper.from_array(array, name)
        self.graph.initializer.append(tensor)
        self.inits[name] = tensor
        return name

    def dq(self, x: str, scale: str, zp: str | None, axis: int | None = None) -> str:
        out = self.fresh(f"{x}_dq")
        attrs = {"axis": axis} if axis is not None else {}
        self.nodes.append(helper.make_node("DequantizeLinear", [x, scale] + ([zp] if zp else []), [out],
                                           name=self.fresh("DequantizeLinear"), **attrs))
        return out

    def q(self, x: str, scale: str, zp: str, out: str) -> None:
        self.nodes.append(helper.make_node("QuantizeLinear", [x, scale, zp], [out], name=self.fresh("QuantizeLinear")))

    def op(self, op_type: str, inputs: list[str], node: onnx.NodeProto, **attrs) -> str:
        out = self.fresh(f"{node.output[0]}_f")
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=node.name or self.fresh(op_type), **attrs))
        return out

    def run(self) -> onnx.ModelProto:
        for node in self.graph.node:
            handler = getattr(self, f"rewrite_{node.op_type}", None) if node.op_type in QOPERATORS else None
            if node.op_type in ("ConvInteger", "MatMulInteger"):
                raise UnsupportedOperatorError(
                    f"{node.op_type} node '{node.name}': dynamic quantization (int32 results scaled at run time) has "
                    "no static int8 form; quantize statically (tvm_stm32dvfs.quantize / compile --quantize)")
            if handler is None:
                self.nodes.append(node)
                continue
            handler(node)
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)
        onnx.checker.check_model(self.model)
        return self.model

    def attrs(self, node: onnx.NodeProto) -> dict:
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def rewrite_QLinearConv(self, node: onnx.NodeProto) -> None:
        x, xs, xz, w, ws, wz, ys, yz = node.input[:8]
        xf = self.dq(x, xs, xz)
        wf = self.dq(w, ws, wz, axis=0)
        inputs = [xf, wf]
        if len(node.input) > 8 and node.input[8]:
            scale = (self.const(xs, node).astype(np.float64) * self.const(ws, node).astype(np.float64)).astype(np.float32)
            bias_scale = self.add_init("bias_scale", scale.reshape(-1) if scale.size > 1 else scale.reshape(()))
            inputs.append(self.dq(node.input[8], bias_scale, None, axis=0 if scale.size > 1 else None))
        self.q(self.op("Conv", inputs, node, **self.attrs(node)), ys, yz, node.output[0])

    def rewrite_QLinearMatMul(self, node: onnx.NodeProto) -> None:
        a, as_, az, b, bs, bz, ys, yz = node.input[:8]
        bf = self.dq(b, bs, bz, axis=1 if self.const(bs, node).size > 1 else None)
        self.q(self.op("MatMul", [self.dq(a, as_, az), bf], node), ys, yz, node.output[0])

    def rewrite_QGemm(self, node: onnx.NodeProto) -> None:
        """com.microsoft QGemm: A, a_scale, a_zp, B, b_scale, b_zp, [C int32], [y_scale, y_zp]."""
        attrs = self.attrs(node)
        a, as_, az, b, bs, bz = node.input[:6]
        per_channel = self.const(bs, node).size > 1
        inputs = [self.dq(a, as_, az), self.dq(b, bs, bz, axis=(0 if attrs.get("transB", 0) else 1) if per_channel else None)]
        if len(node.input) > 6 and node.input[6]:
            scale = (self.const(as_, node).astype(np.float64) * self.const(bs, node).astype(np.float64)).astype(np.float32)
            bias_scale = self.add_init("bias_scale", scale.reshape(-1) if scale.size > 1 else scale.reshape(()))
            inputs.append(self.dq(node.input[6], bias_scale, None, axis=0 if scale.size > 1 else None))
        gemm = {k: v for k, v in attrs.items() if k in ("alpha", "transA", "transB")}
        if len(node.input) > 8 and node.input[7]:
            self.q(self.op("Gemm", inputs, node, **gemm), node.input[7], node.input[8], node.output[0])
        else:  # float output
            self.nodes.append(helper.make_node("Gemm", inputs, [node.output[0]], name=node.name or self.fresh("Gemm"), **gemm))

    def _binary(self, node: onnx.NodeProto, op_type: str) -> None:
        a, as_, az, b, bs, bz, ys, yz = node.input[:8]
        self.q(self.op(op_type, [self.dq(a, as_, az), self.dq(b, bs, bz)], node), ys, yz, node.output[0])

    def rewrite_QLinearAdd(self, node: onnx.NodeProto) -> None:
        self._binary(node, "Add")

    def rewrite_QLinearMul(self, node: onnx.NodeProto) -> None:
        self._binary(node, "Mul")

    def rewrite_QLinearGlobalAveragePool(self, node: onnx.NodeProto) -> None:
        if self.attrs(node).get("channels_last", 0):
            raise UnsupportedOperatorError(f"QLinearGlobalAveragePool node '{node.name}': channels_last is not supported")
        x, xs, xz, ys, yz = node.input[:5]
        self.q(self.op("GlobalAveragePool", [self.dq(x, xs, xz)], node), ys, yz, node.output[0])

    def rewrite_QLinearAveragePool(self, node: onnx.NodeProto) -> None:
        attrs = self.attrs(node)
        if attrs.pop("channels_last", 0):
            raise UnsupportedOperatorError(f"QLinearAveragePool node '{node.name}': channels_last is not supported")
        x, xs, xz, ys, yz = node.input[:5]
        self.q(self.op("AveragePool", [self.dq(x, xs, xz)], node, **attrs), ys, yz, node.output[0])

    def rewrite_QLinearConcat(self, node: onnx.NodeProto) -> None:
        ys, yz = node.input[0], node.input[1]
        rest = list(node.input[2:])
        parts = [self.dq(rest[i], rest[i + 1], rest[i + 2]) for i in range(0, len(rest), 3)]
        self.q(self.op("Concat", parts, node, **self.attrs(node)), ys, yz, node.output[0])


def qoperator_to_qdq(model: onnx.ModelProto) -> onnx.ModelProto:
    """The QDQ equivalent of a QOperator model (see the module docstring)."""
    return _Rewriter(model).run()
