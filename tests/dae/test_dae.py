"""Decoupled access-execute tiling: bit-exact with the plain kernels at every granularity offered,
phases separated in the TIR, buffer and phase-event figures exact."""

from __future__ import annotations

import ctypes

import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper

import tvm_stm32dvfs
from tvm_stm32dvfs import dae
from tvm_stm32dvfs.sim import host
from tvm_stm32dvfs.lower import relax_passes
from tvm_stm32dvfs.transform import DecoupleAccessExecute

SHAPE = [1, 4, 12, 12]


@pytest.fixture(scope="module")
def small_int8_cnn(tmp_path_factory, ort_quantize):
    """conv 3x3 s1 -> depthwise 3x3 s2 -> pointwise -> global pool -> dense, quantized by onnxruntime."""
    rng = np.random.default_rng(1)

    def w(*s):
        return numpy_helper.from_array((rng.standard_normal(s) * 0.3).astype(np.float32), f"w{len(inits)}")

    inits: list = []
    inits.append(w(8, 4, 3, 3))
    inits.append(w(8, 1, 3, 3))
    inits.append(w(12, 8, 1, 1))
    inits.append(w(6, 12))
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Conv", ["b", "w1"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2], group=8),
        helper.make_node("Conv", ["c", "w2"], ["d"]),
        helper.make_node("GlobalAveragePool", ["d"], ["e"]),
        helper.make_node("Flatten", ["e"], ["f"]),
        helper.make_node("Gemm", ["f", "w3"], ["y"], transB=1),
    ]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])], inits)
    d = tmp_path_factory.mktemp("dae")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), d / "f.onnx")
    return tvm_stm32dvfs.from_onnx(ort_quantize(d / "f.onnx", d / "q.onnx", SHAPE))[0]


def _fused(mod):
    with tvm.transform.PassContext(opt_level=3):
        for p in relax_passes():
            mod = p(mod)
    return mod


def _decouplable(mod):
    out = {}
    for gv, f in _fused(mod).functions_items():
        if isinstance(f, tvm.tirx.PrimFunc):
            shape = dae.kernel_shape(f)
            if shape is not None:
                out[gv.name_hint] = shape
    return out


def test_every_conv_kind_and_dense_is_decoupled(small_int8_cnn):
    kinds = sorted(s.op for s in _decouplable(small_int8_cnn).values())
    assert kinds == ["conv2d", "conv2d", "dense", "depthwise_conv2d"]


def test_bit_exact_at_every_granularity_offered(small_int8_cnn):
    plain = tvm_stm32dvfs.build(small_int8_cnn, dae=False)
    xs = [np.random.default_rng(s).standard_normal(SHAPE).astype(np.float32) for s in range(3)]
    refs = [plain.run_host(x) for x in xs]
    shapes = _decouplable(small_int8_cnn)
    options = {name: dae.tile_options(shape) + dae.tile_options(shape, dma="overlap") for name, shape in shapes.items()}
    assert all(len(o) >= 4 for o in options.values()), options
    for k in range(max(len(o) for o in options.values())):
        chosen = {name: opts[min(k, len(opts) - 1)].granularity for name, opts in options.items()}
        compiled = tvm_stm32dvfs.build(small_int8_cnn, granularity=chosen)
        assert sorted(layer.granularity for layer in compiled.layers if layer.decoupled) == sorted(
            str(g) for g in chosen.values())
        for x, ref in zip(xs, refs):
            np.testing.assert_array_equal(compiled.run_host(x, sanitize=True), ref)


def _walk(stmt, visit):
    visit(stmt)
    t = type(stmt).__name__
    if t == "SeqStmt":
        for s in stmt.seq:
            _walk(s, visit)
    elif t in ("For", "AttrStmt", "LetStmt", "While"):
        _walk(stmt.body, visit)
    elif t == "IfThenElse":
        _walk(stmt.then_case, visit)
        if stmt.else_case is not None:
            _walk(stmt.else_case, visit)


def _allocated_bytes(func) -> int:
    """Bytes of every buffer a kernel allocates."""
    total = []

    def visit(node):
        if type(node).__name__ == "AllocBuffer":
            n = 1
            for d in node.buffer.ty.shape:
                n *= int(d.value if hasattr(d, "value") else d)
            dtype = str(node.buffer.ty.dtype)
            total.append(n * (4 if dtype == "float32" else int(dtype[3:]) // 8))

    _walk(func.body, visit)
    return sum(total)


def test_every_phase_is_one_micro_kernel_call_of_that_phase(small_int8_cnn):
    from tvm_stm32dvfs.lower.library import KERNELS

    compiled = tvm_stm32dvfs.build(small_int8_cnn, granularity="largest")
    decoupled = [k for k in compiled.lowered.kernels.values() if k.decoupled]
    assert len(decoupled) == 4
    for kernel in decoupled:
        phases = []

        def visit(node):
            if type(node).__name__ == "AttrStmt" and str(node.attr_key) == dae.PHASE_PRAGMA:
                phases.append(node)

        _walk(kernel.func.body, visit)
        kinds = [int(p.value.value) for p in phases]
        assert dae.ACCESS in kinds and dae.EXECUTE in kinds
        assert kinds.index(dae.ACCESS) < kinds.index(dae.EXECUTE)
        for p in phases:
            body = p.body
            assert type(body).__name__ == "Evaluate", (kernel.name, body)  # no loops left in a phase
            called = KERNELS[str(body.value.args[0].value)]
            assert called.phase == ("execute" if int(p.value.value) == dae.EXECUTE else "access"), called.name
    c_text = compiled.sources.files["kernels.c"]
    assert c_text.count("stm32dvfs_phase(STM32DVFS_ACCESS)") >= 4
    assert c_text.count("stm32dvfs_phase(STM32DVFS_EXECUTE)") == 4


@pytest.mark.emulator
def test_execute_phase_reads_no_operand_from_flash(small_int8_cnn):
    """The access phase brings weights, bias and requantisation constants into SRAM: the execute
    phase's data reads from flash are the few literal-pool loads of its code (the plain 1x1 and
    3x3 kernels read their weights from flash as they multiply: at least one load per 16 MACs)."""
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    plain = tvm_stm32dvfs.build(small_int8_cnn, dae=False)
    plain_run = tvm_stm32dvfs.emulate(plain, x, count_memory=True, regions=("flash",))
    compiled = tvm_stm32dvfs.build(small_int8_cnn, granularity="largest")
    run = tvm_stm32dvfs.emulate(compiled, x, count_memory=True, regions=("flash",))
    for i, layer in enumerate(compiled.layers):
        if not layer.decoupled:
            continue
        execute = run.memory.get((i, "execute", "flash", "read"), 0)
        assert execute <= 0.02 * layer.macs + 16, (layer.name, execute, layer.macs)
        if layer.op == "conv2d":
            assert plain_run.memory.get((i, "plain", "flash", "read"), 0) >= layer.macs / 16, layer.name


def test_plain_build_has_no_phases(small_int8_cnn):
    plain = tvm_stm32dvfs.build(small_int8_cnn, dae=False)
    assert "stm32dvfs_phase(" not in plain.sources.files["kernels.c"]
    assert not any(layer.decoupled for layer in plain.layers)


def test_buffer_bytes_and_phase_events_are_exact(small_int8_cnn):
    shapes = _decouplable(small_int8_cnn)
    for name, shape in shapes.items():
        for option in dae.tile_options(shape) + dae.tile_options(shape, dma="sleep"):
            compiled = tvm_stm32dvfs.build(small_int8_cnn, granularity={name: option.granularity})
            kernel = compiled.lowered.kernels[name]
            # every buffer but a fused dequantize's int8 result, which the plain kernel has too
            tiles = sum(s.nbytes for s in kernel.scratch if s.name != "result")
            assert tiles == _allocated_bytes(kernel.func) - sum(s.nbytes for s in kernel.scratch if s.name == "result")
            assert tiles == option.buffer_bytes, (name, option)
            lib = ctypes.CDLL(str(host.build_shared_library(compiled.sources)))
            lib.stm32dvfs_reset_phase_events()
            lib.stm32dvfs_phase_events.restype = ctypes.c_uint32
            compiled.run_host(np.zeros(SHAPE, np.float32))
            layers = len(compiled.layers)
            expected = layers + sum(
                dae.phase_events(shapes[k.name], dae.Granularity.parse(k.granularity))
                for k in compiled.lowered.kernels.values() if k.decoupled)
            assert lib.stm32dvfs_phase_events() == expected


def test_pass_runs_in_a_user_sequential(small_int8_cnn):
    fused = _fused(small_int8_cnn)
    out = tvm.transform.Sequential([DecoupleAccessExecute(dae.Granularity(1, 2))])(fused)
    marked = [gv.name_hint for gv, f in out.functions_items()
              if isinstance(f, tvm.tirx.PrimFunc) and f.attrs is not None and "stm32dvfs.dae" in f.attrs]
    assert len(marked) == 4


def test_named_relax_pipeline(small_int8_cnn):
    from tvm import relax

    out = relax.get_pipeline("stm32dvfs")(small_int8_cnn)
    marked = [f for _, f in out.functions_items()
              if isinstance(f, tvm.tirx.PrimFunc) and f.attrs is not None and "stm32dvfs.dae" in f.attrs]
    assert len(marked) == 4


def test_execute_kernel_uses_smlad_on_cortex_m7(small_int8_cnn, tool, tmp_path):
    """The int8 execute phase, cross-compiled -O2 for Cortex-M7, multiplies with SMLAD."""
    import subprocess

    from tvm_stm32dvfs.sim.emulator import CFLAGS as ARM_CFLAGS
    from tvm_stm32dvfs.vocabulary import CORE_FLAGS

    compiled = tvm_stm32dvfs.build(small_int8_cnn, granularity="largest")
    assert "stm32dvfs_conv2d_tile_execute_s16(" in compiled.sources.files["kernels.c"]
    compiled.export_c(tmp_path)
    obj = tmp_path / "kernels.o"
    subprocess.run([tool("arm-none-eabi-gcc"), *CORE_FLAGS["cortex-m7"], *ARM_CFLAGS, "-I", str(tmp_path), "-c",
                    str(tmp_path / "kernels.c"), "-o", str(obj)], check=True)
    disassembly = subprocess.run([tool("arm-none-eabi-objdump"), "-d", str(obj)], capture_output=True, text=True,
                                 check=True).stdout
    assert "smlad" in disassembly


def _granularity_sweep(mod, params, inputs, exact: bool):
    """Build at the k-th offered granularity of every kernel, for every k; compare with plain."""
    plain = tvm_stm32dvfs.build(mod, params=params, dae=False)
    refs = [plain.run_host(x) for x in inputs]
    fused = tvm_stm32dvfs.transform.stm32dvfs_pipeline(dae=False)(
        tvm_stm32dvfs.driver._bind_params(mod, params))
    options = {gv.name_hint: dae.tile_options(dae.kernel_shape(f)) + dae.tile_options(dae.kernel_shape(f), dma="sleep")
               for gv, f in fused.functions_items()
               if isinstance(f, tvm.tirx.PrimFunc) and dae.kernel_shape(f) is not None}
    assert options
    for k in range(max(len(o) for o in options.values())):
        chosen = {name: opts[min(k, len(opts) - 1)].granularity for name, opts in options.items()}
        compiled = tvm_stm32dvfs.build(mod, params=params, granularity=chosen)
        for x, ref in zip(inputs, refs):
            got = compiled.run_host(x, sanitize=True)
            if exact:
                np.testing.assert_array_equal(got, ref)
            else:
                np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kws_dscnn", "ic_resnet8", "mcunet_ir", "vww_mobilenet"])
@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8"])
def test_bundled_models_every_granularity(name, int8):
    """Every granularity offered, CPU and DMA access: the outputs of the plain kernels (int8:
    bit-exact; float: within rounding)."""
    from tvm_stm32dvfs.models.zoo import ZOO

    mod, params = tvm_stm32dvfs.from_onnx(ZOO[name].int8_path if int8 else ZOO[name].path)
    shape = [int(d) for d in mod["main"].params[0].ty.shape.values]
    inputs = [np.random.default_rng(s).standard_normal(shape).astype(np.float32) for s in range(2)]
    _granularity_sweep(mod, params, inputs, exact=int8)


@pytest.fixture(scope="module")
def small_float_cnn():
    rng = np.random.default_rng(4)
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Conv", ["b", "w1"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2], group=8)]
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("w0", (8, 4, 3, 3)), ("b0", (8,)), ("w1", (8, 1, 3, 3)))]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])], inits)
    return tvm_stm32dvfs.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def test_float_tiles_exact_sizes_and_outputs(small_float_cnn):
    mod, params = small_float_cnn
    fused = tvm_stm32dvfs.transform.stm32dvfs_pipeline(dae=False)(tvm_stm32dvfs.driver._bind_params(mod, params))
    shapes = {gv.name_hint: dae.kernel_shape(f) for gv, f in fused.functions_items()
              if isinstance(f, tvm.tirx.PrimFunc) and dae.kernel_shape(f) is not None}
    assert sorted(s.op for s in shapes.values()) == ["conv2d", "depthwise_conv2d"]
    assert all(s.dtype == "float32" for s in shapes.values())
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    ref = tvm_stm32dvfs.build(mod, params=params, dae=False).run_host(x)
    for name, shape in shapes.items():
        assert dae.tile_options(shape, dma="sleep") == []  # float tiles are not copied by DMA
        for option in dae.tile_options(shape):
            compiled = tvm_stm32dvfs.build(mod, params=params, granularity={name: option.granularity})
            assert _allocated_bytes(compiled.lowered.kernels[name].func) == option.buffer_bytes, (name, option)
            np.testing.assert_allclose(compiled.run_host(x, sanitize=True), ref, rtol=0, atol=1e-5)


def test_dma_sleep_access_copies_the_weight_slice_in_one_transfer(small_int8_cnn):
    compiled = tvm_stm32dvfs.build(small_int8_cnn, granularity=dae.Granularity(1, 2, dma="sleep"))
    text = compiled.sources.files["kernels.c"]
    assert text.count("stm32dvfs_dma_copy_sleep(") == 4 and "stm32dvfs_dma_prefetch(" not in text
    # every DMA transfer starts an access phase
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("(void)stm32dvfs_dma_copy_sleep("):
            assert lines[i - 1] == "stm32dvfs_phase(STM32DVFS_ACCESS);"
            # then the widening of the staged copy, not of the weights in flash
            assert lines[i + 1].startswith("(void)stm32dvfs_") and "_tile_weights_s16(" in lines[i + 1]
            assert "&tile[" in lines[i + 1]


def test_dma_overlap_access_awaits_this_slice_and_prefetches_the_next(small_int8_cnn):
    compiled = tvm_stm32dvfs.build(small_int8_cnn, granularity=dae.Granularity(1, 2, dma="overlap"))
    text = compiled.sources.files["kernels.c"]
    assert text.count("stm32dvfs_dma_await(") == 4 and text.count("stm32dvfs_dma_prefetch(") == 4
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("(void)stm32dvfs_dma_await("):
            assert lines[i - 1] == "stm32dvfs_phase(STM32DVFS_ACCESS);"
            assert "_tile_weights_s16(" in lines[i + 1] and "&tile[" in lines[i + 1]
            # the next slice starts unless this is the layer's last tile; the execute phase follows
            assert lines[i + 2].startswith("if (") and lines[i + 3].startswith("(void)stm32dvfs_dma_prefetch(")
            following = lines[i + 4:i + 8]
            assert "stm32dvfs_phase(STM32DVFS_EXECUTE);" in following, following
    x = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
    np.testing.assert_array_equal(compiled.run_host(x, sanitize=True),
                                  tvm_stm32dvfs.build(small_int8_cnn, dae=False).run_host(x))
    # without a board the emulator runs the portable copy and agrees with the host (the board
    # drivers against the DMA controller model: tests/sim/test_dma.py)
    np.testing.assert_array_equal(tvm_stm32dvfs.emulate(compiled, x).outputs, compiled.run_host(x))


def test_float_dense_tiles_exact_sizes_and_outputs():
    rng = np.random.default_rng(5)
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1),
                           helper.make_node("Relu", ["y"], ["z"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 12])],
                          [numpy_helper.from_array(rng.standard_normal((12, 32)).astype(np.float32), "w"),
                           numpy_helper.from_array(rng.standard_normal(12).astype(np.float32), "b")])
    mod, params = tvm_stm32dvfs.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    fused = tvm_stm32dvfs.transform.stm32dvfs_pipeline(dae=False)(tvm_stm32dvfs.driver._bind_params(mod, params))
    shapes = {gv.name_hint: dae.kernel_shape(f) for gv, f in fused.functions_items()
              if isinstance(f, tvm.tirx.PrimFunc) and dae.kernel_shape(f) is not None}
    assert [(s.op, s.dtype) for s in shapes.values()] == [("dense", "float32")]
    x = rng.standard_normal((1, 32)).astype(np.float32)
    ref = tvm_stm32dvfs.build(mod, params=params, dae=False).run_host(x)
    (name, shape), = shapes.items()
    assert dae.tile_options(shape, dma="overlap") == []  # float tiles are not copied by DMA
    for option in dae.tile_options(shape):
        compiled = tvm_stm32dvfs.build(mod, params=params, granularity={name: option.granularity})
        assert _allocated_bytes(compiled.lowered.kernels[name].func) == option.buffer_bytes, option
        np.testing.assert_allclose(compiled.run_host(x, sanitize=True), ref, rtol=0, atol=1e-5)
        assert "stm32dvfs_phase(STM32DVFS_EXECUTE)" in compiled.sources.files["kernels.c"]
