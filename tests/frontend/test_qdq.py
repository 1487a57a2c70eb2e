"""QDQ models -> int8 kernels, against onnxruntime on the same quantized model.

The reference is onnxruntime with its graph optimisations off, which evaluates a QDQ model as
the standard defines it: dequantize, float op, quantize (ties to even). (Its optimised sessions
swap in integer kernels whose rounding differs from that definition: on a 2x2 average pool at equal
scales they agree with their own float path on only ~79 % of elements, measured.) The kernels here
compute in integers and round once, so they differ from the float reference only where float32
rounding noise moves a value across a rounding boundary: at most 1 LSB, on few elements.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType

import tvm_stm32dvfs
from tvm_stm32dvfs.errors import UnsupportedOperatorError

SHAPE = [1, 8, 8, 8]


def quantized(quantize_with_ort, tmp_path, nodes, out_shape, inits=(), in_shape=SHAPE, act=QuantType.QInt8,
              weight=QuantType.QInt8,
              symmetric=True, per_channel=True):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], list(inits))
    f = tmp_path / "float.onnx"
    q = tmp_path / "q.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), f)
    return quantize_with_ort(f, q, in_shape, n=16, activation_type=act, weight_type=weight, per_channel=per_channel,
                             extra_options={"WeightSymmetric": symmetric, "ActivationSymmetric": False})


def out_scale(path) -> float:
    """Scale of the DequantizeLinear that produces the graph output."""
    m = onnx.load(path)
    last = [n for n in m.graph.node if n.output[0] == m.graph.output[0].name][0]
    assert last.op_type == "DequantizeLinear"
    consts = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    consts.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in m.graph.node if n.op_type == "Constant"})
    return float(consts[last.input[1]])


def compare(path, in_shape=SHAPE, n=20):
    mod, params = tvm_stm32dvfs.from_onnx(path)
    compiled = tvm_stm32dvfs.build(mod, params=params)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    scale = out_scale(path)
    rng = np.random.default_rng(99)
    diffs = []
    for _ in range(n):
        x = rng.standard_normal(in_shape).astype(np.float32)
        ours = compiled.run_host(x, sanitize=True)
        ref = sess.run(None, {"x": x})[0]
        diffs.append(np.rint(np.abs(ours - ref) / scale))
    d = np.concatenate([v.reshape(-1) for v in diffs])
    return compiled, float(d.max()), float(np.mean(d == 0))


def w(rng, *shape, s=0.3):
    return (rng.standard_normal(shape) * s).astype(np.float32)


CASES = {
    "conv3x3_relu": lambda r: ([helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
                                helper.make_node("Relu", ["c"], ["y"])], [1, 16, 8, 8],
                               [numpy_helper.from_array(w(r, 16, 8, 3, 3), "W"), numpy_helper.from_array(w(r, 16), "B")]),
    "conv1x1_stride2": lambda r: ([helper.make_node("Conv", ["x", "W"], ["y"], strides=[2, 2])], [1, 4, 4, 4],
                                  [numpy_helper.from_array(w(r, 8, 8, 3, 3), "V"), numpy_helper.from_array(w(r, 4, 8, 1, 1), "W")]),
    "depthwise_relu6": lambda r: ([helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], group=8),
                                   helper.make_node("Clip", ["c", "lo", "hi"], ["y"])], [1, 8, 8, 8],
                                  [numpy_helper.from_array(w(r, 8, 1, 3, 3), "W"), numpy_helper.from_array(w(r, 8), "B"),
                                   numpy_helper.from_array(np.array(0, np.float32), "lo"),
                                   numpy_helper.from_array(np.array(6, np.float32), "hi")]),
    "residual_add": lambda r: ([helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
                                helper.make_node("Add", ["c", "x"], ["y"])], SHAPE,
                               [numpy_helper.from_array(w(r, 8, 8, 3, 3), "W")]),
    "maxpool": lambda r: ([helper.make_node("Conv", ["x", "V"], ["v"], pads=[1, 1, 1, 1]),
                           helper.make_node("MaxPool", ["v"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
                          [1, 8, 8, 8], [numpy_helper.from_array(w(r, 8, 8, 3, 3), "V")]),
    "gap_gemm": lambda r: ([helper.make_node("GlobalAveragePool", ["x"], ["g"]),
                            helper.make_node("Flatten", ["g"], ["f"]),
                            helper.make_node("Gemm", ["f", "W", "B"], ["y"], transB=1)], [1, 10],
                           [numpy_helper.from_array(w(r, 10, 8), "W"), numpy_helper.from_array(w(r, 10), "B")]),
    "batchnorm_unfolded": lambda r: ([helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"])], SHAPE,
                                     [numpy_helper.from_array(w(r, 8, s=1.0), "g"), numpy_helper.from_array(w(r, 8), "b"),
                                      numpy_helper.from_array(w(r, 8), "m"),
                                      numpy_helper.from_array((1 + r.random(8)).astype(np.float32), "v")]),
    # PyTorch's dynamo exporter writes AdaptiveAvgPool2d(1) + flatten as ReduceMean + Reshape
    "reducemean_reshape_gemm": lambda r: ([
        helper.make_node("Conv", ["x", "V"], ["v"], pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["v"], ["g"], axes=[-2, -1], keepdims=1),
        helper.make_node("Reshape", ["g", "s"], ["f"]),
        helper.make_node("Gemm", ["f", "W", "B"], ["y"], transB=1)], [1, 10],
        [numpy_helper.from_array(w(r, 8, 8, 3, 3), "V"), numpy_helper.from_array(np.array([1, 8], np.int64), "s"),
         numpy_helper.from_array(w(r, 10, 8), "W"), numpy_helper.from_array(w(r, 10), "B")]),
    "concat_mul": lambda r: ([helper.make_node("Relu", ["x"], ["a"]),
                              helper.make_node("Concat", ["x", "a"], ["c"], axis=1),
                              helper.make_node("Mul", ["c", "c"], ["y"])], [1, 16, 8, 8], []),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_int8_chain_matches_onnxruntime(ort_quantize, name, tmp_path):
    nodes, out_shape, inits = CASES[name](np.random.default_rng(3))
    path = quantized(ort_quantize, tmp_path, nodes, out_shape, inits)
    compiled, worst, identical = compare(path)
    assert worst <= 1, f"{name}: {worst} LSB"
    assert identical >= 0.99, f"{name}: only {identical:.1%} identical"
    # the arena holds int8 activations: no float tensor between the first and the last kernel
    inner = [t.dtype for t in compiled.lowered.tensors.values() if t.kind == "activation"]
    assert "float32" not in inner, inner


def test_uint8_activations_are_rejected_with_the_node(ort_quantize, tmp_path):
    nodes, out_shape, inits = CASES["conv3x3_relu"](np.random.default_rng(3))
    path = quantized(ort_quantize, tmp_path, nodes, out_shape, inits, act=QuantType.QUInt8)
    with pytest.raises(UnsupportedOperatorError, match=r"node .*uint8 activations"):
        tvm_stm32dvfs.from_onnx(path)


def test_16bit_activations_are_rejected(ort_quantize, tmp_path):
    nodes, out_shape, inits = CASES["conv3x3_relu"](np.random.default_rng(3))
    path = quantized(ort_quantize, tmp_path, nodes, out_shape, inits, act=QuantType.QInt16)
    with pytest.raises(UnsupportedOperatorError, match="int16 activations"):
        tvm_stm32dvfs.from_onnx(path)


def test_weights_with_a_zero_point_are_rejected(ort_quantize, tmp_path):
    """Asymmetric weights (a non-zero weight zero point) on a depthwise conv."""
    nodes, out_shape, inits = CASES["depthwise_relu6"](np.random.default_rng(3))
    path = quantized(ort_quantize, tmp_path, nodes, out_shape, inits)
    m = onnx.load(path)
    for init in m.graph.initializer:
        if init.name.startswith("W") and "zero_point" in init.name:
            zp = numpy_helper.to_array(init).copy()
            zp[...] = 3
            init.CopyFrom(numpy_helper.from_array(zp, init.name))
    with pytest.raises(UnsupportedOperatorError, match=r"Conv node .*non-zero zero point"):
        tvm_stm32dvfs.from_onnx(m)


def _pool_graph(op: str, **attrs) -> onnx.ModelProto:
    def c(name, v, dt):
        return numpy_helper.from_array(np.array(v, dtype=dt), name)

    nodes = [helper.make_node("QuantizeLinear", ["x", "s0", "z0"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s0", "z0"], ["xd"]),
             helper.make_node(op, ["xd"], ["p"], **attrs),
             helper.make_node("QuantizeLinear", ["p", "s1", "z1"], ["pq"]),
             helper.make_node("DequantizeLinear", ["pq", "s1", "z1"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])],
                          [c("s0", 0.05, np.float32), c("z0", 3, np.int8), c("s1", 0.05, np.float32), c("z1", -5, np.int8)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_int8_average_pool_rounds_exactly():
    """2x2 average at equal scales: ties are frequent, so check against exact rational rounding."""
    compiled = tvm_stm32dvfs.build(tvm_stm32dvfs.from_onnx(_pool_graph("AveragePool", kernel_shape=[2, 2],
                                                                       strides=[2, 2]))[0])
    rng = np.random.default_rng(5)
    s0 = np.float32(0.05)
    for _ in range(10):
        x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
        xq = np.clip(np.rint(x / s0) + 3, -128, 127).astype(np.int64)
        window = (xq - 3).reshape(1, 4, 4, 2, 4, 2).sum(axis=(3, 5))
        # sum / 4 (equal scales), ties to even, then the output zero point
        expected = np.clip(np.rint(window / 4.0) - 5, -128, 127)
        got = np.rint(compiled.run_host(x, sanitize=True) / 0.05).astype(np.int64) - 5
        np.testing.assert_array_equal(got, expected)


def test_int8_max_pool_is_exact():
    compiled = tvm_stm32dvfs.build(tvm_stm32dvfs.from_onnx(_pool_graph("MaxPool", kernel_shape=[2, 2],
                                                                       strides=[2, 2]))[0])
    x = np.random.default_rng(6).standard_normal((1, 4, 8, 8)).astype(np.float32)
    xq = np.clip(np.rint(x / np.float32(0.05)) + 3, -128, 127)
    expected = xq.reshape(1, 4, 4, 2, 4, 2).max(axis=(3, 5)) - 3 - 5
    got = np.rint(compiled.run_host(x, sanitize=True) / 0.05) - 5
    np.testing.assert_array_equal(got, expected)


def _converter_dense(relu: bool, bias_first: bool) -> onnx.ModelProto:
    """A fully connected layer as tf2onnx writes it: int8 in and out, DequantizeLinear ->
    MatMul -> Add(DequantizeLinear(int32 bias)) [-> Relu] -> QuantizeLinear."""
    rng = np.random.default_rng(3)
    sx, sw, so = 0.05, rng.uniform(0.002, 0.01, 8).astype(np.float32), 0.07
    inits = [
        numpy_helper.from_array(rng.integers(-127, 128, (16, 8), dtype=np.int8), "w"),
        numpy_helper.from_array(sw, "sw"), numpy_helper.from_array(np.zeros(8, np.int8), "zw"),
        numpy_helper.from_array(rng.integers(-3000, 3000, 8).astype(np.int32), "b"),
        numpy_helper.from_array((np.float32(sx) * sw).astype(np.float32), "sb"),
        numpy_helper.from_array(np.zeros(8, np.int32), "zb"),
        numpy_helper.from_array(np.array(sx, np.float32), "sx"), numpy_helper.from_array(np.array(3, np.int8), "zx"),
        numpy_helper.from_array(np.array(so, np.float32), "so"), numpy_helper.from_array(np.array(-5, np.int8), "zo"),
    ]
    add_inputs = ["bd", "mm"] if bias_first else ["mm", "bd"]
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "sx", "zx"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w", "sw", "zw"], ["wd"], axis=1),
        helper.make_node("DequantizeLinear", ["b", "sb", "zb"], ["bd"], axis=0),
        helper.make_node("MatMul", ["xd", "wd"], ["mm"], name="dense/MatMul"),
        helper.make_node("Add", add_inputs, ["biased"], name="dense/BiasAdd"),
    ]
    if relu:
        nodes.append(helper.make_node("Relu", ["biased"], ["act"], name="dense/Relu"))
    nodes.append(helper.make_node("QuantizeLinear", ["act" if relu else "biased", "so", "zo"], ["y"]))
    g = helper.make_graph(nodes, "dense", [helper.make_tensor_value_info("x", TensorProto.INT8, ["unk__1", 16])],
                          [helper.make_tensor_value_info("y", TensorProto.INT8, ["unk__1", 8])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("relu,bias_first", [(False, False), (True, False), (True, True)])
def test_matmul_with_a_bias_add_is_one_int8_dense_layer(relu, bias_first, tmp_path):
    from tvm_stm32dvfs.evaluate.validate import validate

    path = tmp_path / "dense.onnx"
    onnx.save(_converter_dense(relu, bias_first), path)
    with pytest.warns(tvm_stm32dvfs.errors.Stm32DvfsWarning, match="dynamic batch"):
        mod, params = tvm_stm32dvfs.from_onnx(path)
    compiled = tvm_stm32dvfs.build(mod, params=params, dae=False)
    assert [layer.op for layer in compiled.layers] == ["dense"], compiled.layers
    assert compiled.inputs[0].dtype == "int8" and compiled.outputs[0].dtype == "int8"
    report = validate(compiled, path, n_inputs=20, seed=4, sanitize=True)
    assert report.bit_exact, report
