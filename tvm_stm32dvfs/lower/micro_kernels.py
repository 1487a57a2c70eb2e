"""DescribeMicroKernels and UseMicroKernels: int8 operators onto the kernel library.

In the spirit of TVM's ``tensorize``, a computation that the library implements is replaced by a
call to it, here in two steps around the flattening of the TIR:

1. :class:`DescribeMicroKernels` (module pass, on the fused block-level PrimFuncs) recognises an
   int8 convolution (regular, 1x1, depthwise; with an optional element-wise add fused after it),
   a dense layer and a float->int8 quantisation by their blocks — the TE computations of
   :mod:`tvm_stm32dvfs.frontend.qnn.kernels` carry their parameters as block annotations — and records
   what the call needs as the function attribute ``stm32dvfs.micro_kernel`` (JSON): the role of
   every parameter, the shapes, zero points and requantisation. A function it does not
   recognise keeps its loops.
2. :class:`UseMicroKernels` (module pass, on the flattened PrimFuncs) replaces the loops:
   a plain function's whole body by one library call; in a decoupled function (the tiles of
   :mod:`tvm_stm32dvfs.dae`) the loop nest inside every phase annotation by the phase's
   micro-kernel (access: input / weights, execute), keeping the tile loops and the phase
   annotations, the DMA copy of a staged weight slice by the runtime's DMA calls (sleep mode:
   ``stm32dvfs_dma_copy_sleep``; overlap mode: ``stm32dvfs_dma_await`` of the transfer started
   during the previous tile and ``stm32dvfs_dma_prefetch`` of the next tile's), and the tile
   buffers by the one scratch buffer whose layout the micro-kernels share
   (:mod:`tvm_stm32dvfs.lower.library`). A nest it does not expect is an error, never a guess.

The calls are ``call_extern`` with the argument struct's fields in order (``KERNELS``); the C
emitter prints them as a designated initializer.
"""

from __future__ import annotations

import json

import numpy as np
import tvm
from tvm import s_tir, tirx

from .. import vocabulary as dae  # the pragmas, phase ids and Granularity of the DAE stage
from .irmodule import replace_functions
from ..errors import UnsupportedOperatorError
from . import library as mk

ATTR = "stm32dvfs.micro_kernel"
#: annotation of the scratch buffer a library call gets (always planned in the arena)
SCRATCH = "stm32dvfs.scratch"


# ============================================================== 1. describe (block level)
def _shape(buffer) -> list[int]:
    return [int(d) for d in buffer.ty.shape]


def _param_index(func: tirx.PrimFunc, buffer) -> int | None:
    for i, p in enumerate(func.params):
        if buffer.same_as(p):
            return i
    return None


def _ints(value) -> list[int]:
    return [int(v) for v in value]


def describe(func: tirx.PrimFunc) -> dict | None:
    """What a library call needs to replace ``func`` (see the module docstring), or None."""
    try:
        sch = s_tir.Schedule(func)
        root = sch.get_sblock("root")
    except Exception:  # noqa: BLE001 - a function without the block structure of a TE computation
        return None
    blocks = {}
    for b in sch.get_child_blocks(root):
        stmt = sch.get(b)
        blocks[stmt.name_hint] = stmt
    if set(blocks) == {"quantize"}:
        return _describe_quantize(func, blocks["quantize"])
    if "conv2d_acc" in blocks:
        return _describe_conv(func, blocks)
    if "dense_acc" in blocks:
        return _describe_dense(func, blocks)
    return None


def _describe_quantize(func, block) -> dict | None:
    ann = block.annotations
    if "stm32dvfs.op" not in ann:
        return None
    src = _param_index(func, block.reads[0].source)
    dst = _param_index(func, block.writes[0].source)
    if src is None or dst is None:
        return None
    count = int(np.prod(_shape(block.writes[0].source)))
    return {"op": "quantize", "kernel": "stm32dvfs_quantize_f32_s8", "params": {"input": src, "output": dst},
            "count": count, "scale": float(str(ann["stm32dvfs.scale"])),
            "zero_point": int(ann["stm32dvfs.zero_point"])}


def _requant(block) -> list[int]:
    return _ints(block.annotations["stm32dvfs.requant"])


_CORE_BLOCKS = {"pad_temp", "weights_wide", "conv2d_acc", "conv2d_s8", "dense_acc", "dense_s8"}


def _dequantize(func, blocks, produced) -> tuple[dict | None, bool]:
    """A DequantizeLinear fused after the int8 result (a model's float output): (description, ok)."""
    if "dequantize" not in blocks:
        return None, True
    block = blocks["dequantize"]
    if not block.reads[0].source.same_as(produced) or "stm32dvfs.op" not in block.annotations:
        return None, False
    index = _param_index(func, block.writes[0].source)
    if index is None:
        return None, False
    return {"output": index, "scale": float(str(block.annotations["stm32dvfs.scale"])),
            "zero_point": int(block.annotations["stm32dvfs.zero_point"])}, True


def _residual(func, blocks, out_block: str, out_shape) -> tuple[dict | None, bool]:
    """The fused add after the requantised output, if any: (description, ok)."""
    extra = set(blocks) - _CORE_BLOCKS - {"dequantize"}
    if not extra:
        return None, True
    if extra != {"add_s8"}:
        return None, False
    add = blocks["add_s8"]
    reads = [r.source for r in add.reads]
    produced = blocks[out_block].writes[0].source
    if len(reads) != 2 or _shape(reads[0]) != _shape(reads[1]) or _shape(reads[0]) != list(out_shape):
        return None, False
    za, fa, zb, fb, bits, zo, lo, hi = _ints(add.annotations["stm32dvfs.add"])
    if not any(r.same_as(produced) for r in reads):
        return None, False
    other = reads[1] if reads[0].same_as(produced) else reads[0]
    # which operand of add(a, b) the convolution is: the block's read order is not the operands'
    # order, so find the factor the simplified expression multiplies the convolution's value by
    factor = _factor_of(add.body, produced)
    if factor == fa and (factor != fb or za == zo_of(blocks[out_block])):
        conv = (za, fa, zb, fb)
    elif factor == fb:
        conv = (zb, fb, za, fa)
    else:
        return None, False
    index = _param_index(func, other)
    if index is None:
        return None, False
    return {"param": index, "conv_zero_point": conv[0], "conv_factor": conv[1], "input_zero_point": conv[2],
            "input_factor": conv[3], "bits": bits, "zero_point": zo, "act_min": lo, "act_max": hi}, True


def zo_of(block) -> int:
    """The output zero point of a requantisation block."""
    return _ints(block.annotations["stm32dvfs.requant"])[0]


def _factor_of(expr, buffer) -> int | None:
    """The constant that ``expr`` multiplies the value loaded from ``buffer`` by."""
    import tvm_ffi

    found: list[int] = []

    def loads(node) -> bool:
        hit = []
        tvm_ffi.structural_walk(node, lambda n: hit.append(n) if type(n).__name__ == "TensorLoad"
                                and n.source.same_as(buffer) else None)
        return bool(hit)

    def visit(node):
        if type(node).__name__ == "Mul":
            for x, c in ((node.a, node.b), (node.b, node.a)):
                if type(c).__name__ == "IntImm" and loads(x):
                    found.append(int(c.value))

    tvm_ffi.structural_walk(expr, visit)
    return found[0] if len(found) == 1 else None


def _describe_conv(func, blocks) -> dict | None:
    acc, out = blocks["conv2d_acc"], blocks.get("conv2d_s8")
    if out is None or "pad_temp" not in blocks or "weights_wide" not in blocks:
        return None
    ann = acc.annotations
    if "stm32dvfs.pads" not in ann:
        return None
    x = blocks["pad_temp"].reads[0].source
    w = blocks["weights_wide"].reads[0].source
    bias, mult, shift = (r.source for r in out.reads[1:4])
    n, c, h, wd = _shape(x)
    o, cpg, kh, kw = _shape(w)
    _, _, oh, ow = _shape(out.writes[0].source)
    groups = int(ann["stm32dvfs.groups"])
    if groups == 1:
        op, kernel = "conv2d", "stm32dvfs_conv2d_s8"
    elif groups == c == o and cpg == 1:
        op, kernel = "depthwise_conv2d", "stm32dvfs_depthwise_conv2d_s8"
    else:
        return None  # grouped convolution with several channels per group: the library has none
    residual, ok = _residual(func, blocks, "conv2d_s8", [n, o, oh, ow])
    if not ok:
        return None
    last = blocks["add_s8"] if residual else out
    dequantize, ok = _dequantize(func, blocks, last.writes[0].source)
    if not ok:
        return None
    params = {"input": _param_index(func, x), "weights": _param_index(func, w), "bias": _param_index(func, bias),
              "multiplier": _param_index(func, mult), "shift": _param_index(func, shift),
              "output": dequantize["output"] if dequantize else _param_index(func, last.writes[0].source)}
    if residual:
        params["residual"] = residual.pop("param")
    if any(v is None for v in params.values()):
        return None
    pt, pl, _, _ = _ints(ann["stm32dvfs.pads"])
    sh, sw = _ints(ann["stm32dvfs.strides"])
    dh, dw = _ints(ann["stm32dvfs.dilations"])
    dims = mk.ConvDims(n, c, h, wd, o, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw)
    return {"op": op, "kernel": kernel, "params": params, "dims": dims.__dict__,
            "input_zero_point": int(ann["stm32dvfs.input_zero_point"]), "requant": _requant(out),
            "residual": residual, "dequantize": dequantize, "outputs": n * o * oh * ow}


def _describe_dense(func, blocks) -> dict | None:
    acc, out = blocks["dense_acc"], blocks.get("dense_s8")
    if out is None or not set(blocks) - {"dequantize"} == {"pad_temp", "weights_wide", "dense_acc", "dense_s8"}:
        return None
    dequantize, ok = _dequantize(func, blocks, out.writes[0].source)
    if not ok:
        return None
    x = blocks["pad_temp"].reads[0].source
    w = blocks["weights_wide"].reads[0].source
    bias, mult, shift = (r.source for r in out.reads[1:4])
    m, k = _shape(x)
    nout, _ = _shape(w)
    params = {"input": _param_index(func, x), "weights": _param_index(func, w), "bias": _param_index(func, bias),
              "multiplier": _param_index(func, mult), "shift": _param_index(func, shift),
              "output": dequantize["output"] if dequantize else _param_index(func, out.writes[0].source)}
    if any(v is None for v in params.values()):
        return None
    return {"op": "dense", "kernel": "stm32dvfs_dense_s8", "params": params, "batches": m, "in_features": k,
            "out_features": nout, "input_zero_point": int(acc.annotations["stm32dvfs.input_zero_point"]),
            "requant": _requant(out), "dequantize": dequantize, "outputs": m * nout}


@tvm.transform.module_pass(opt_level=0, name="DescribeMicroKernels")
class DescribeMicroKernels:
    """Annotate every PrimFunc the kernel library implements with ``stm32dvfs.micro_kernel``."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        updates = {}
        for gv, func in mod.functions_items():
            if not isinstance(func, tirx.PrimFunc) or (func.attrs is not None and ATTR in func.attrs):
                continue
            spec = describe(func)
            if spec is not None:
                updates[gv] = func.with_attr(ATTR, json.dumps(spec, sort_keys=True))
        return replace_functions(mod, updates)


def spec_of(func: tirx.PrimFunc) -> dict | None:
    if func.attrs is None or ATTR not in func.attrs:
        return None
    return json.loads(str(func.attrs[ATTR]))


# ============================================================== 2. use (flattened TIR)
def _i32(v):
    return tirx.const(int(v), "int32")


def _address(buffer, offset=0):
    index = _i32(offset) if isinstance(offset, int) else offset
    return tirx.address_of(tirx.BufferLoad(buffer, [index]))


class _Lowering:
    """Replaces the loops of one flattened function described by ``spec``."""

    def __init__(self, func: tirx.PrimFunc, spec: dict, name: str) -> None:
        self.func = func
        self.spec = spec
        self.name = name
        self.views: dict[int, object] = {}  # parameter index -> its flat DeclBuffer view
        self.decls: list = []
        self._collect_views(func.body)
        # a fused DequantizeLinear: the kernel writes int8 into a buffer of its own, a loop dequantises
        self.int8_result = _scratch_buffer("result", spec["outputs"]) if spec.get("dequantize") else None

    def output(self):
        return _address(self.int8_result) if self.int8_result is not None else self.param("output")

    def epilogue(self) -> list:
        """The allocation of the int8 result, and after the kernel the loop that dequantises it."""
        if self.int8_result is None:
            return [], []
        deq = self.spec["dequantize"]
        out = self.views[self.spec["params"]["output"]]
        i = tirx.Var("i", "int32")
        value = tirx.Cast("float32", tirx.Cast("int32", tirx.BufferLoad(self.int8_result, [i])) - _i32(
            deq["zero_point"])) * tirx.const(float(np.float32(deq["scale"])), "float32")
        loop = tirx.For(i, _i32(0), _i32(self.spec["outputs"]), tirx.ForKind.SERIAL, tirx.BufferStore(out, value, [i]))
        return [tirx.AllocBuffer(self.int8_result, annotations={SCRATCH: 1})], [loop]

    def _collect_views(self, stmt) -> None:
        t = type(stmt).__name__
        if t == "SeqStmt":
            for s in stmt.seq:
                self._collect_views(s)
        elif t == "DeclBuffer":
            data = stmt.data
            if type(data).__name__ == "Call" and data.op.name == "tirx.buffer_data":
                index = _param_index(self.func, data.args[0])
                if index is not None:
                    self.views[index] = stmt.buffer
                    self.decls.append(stmt)

    def fail(self, what: str) -> UnsupportedOperatorError:
        return UnsupportedOperatorError(f"kernel {self.name}: {what} (UseMicroKernels)")

    def param(self, role: str):
        return _address(self.views[self.spec["params"][role]])

    # ------------------------------------------------------------ argument structs
    def struct_values(self, scratch, tile: dae.Granularity | None) -> list:
        s = self.spec
        zp, lo, hi, fast, rounding = s["requant"]
        values: dict = {
            "input": self.param("input"), "input_zero_point": _i32(s["input_zero_point"]),
            "weights": self.param("weights"), "bias": self.param("bias"), "output": self.output(),
            "buffer": _address(scratch) if scratch is not None else _i32(0),
            "requant.multiplier": self.param("multiplier"), "requant.shift": self.param("shift"),
            "requant.zero_point": _i32(zp), "requant.act_min": _i32(lo), "requant.act_max": _i32(hi),
            "requant.fast": _i32(fast), "requant.rounding": _i32(rounding), "tile_channels": _i32(tile.channels if tile else 0),
        }
        if s["op"] == "dense":
            struct = mk.DENSE_ARGS
            values.update({"batches": _i32(s["batches"]), "in_features": _i32(s["in_features"]),
                           "out_features": _i32(s["out_features"])})
        else:
            struct = mk.CONV2D_ARGS
            values.update({k: _i32(v) for k, v in mk.ConvDims(**s["dims"]).fields().items()})
            values["tile_rows"] = _i32(tile.rows if tile else 0)
            res = s.get("residual")
            for field in ("input_zero_point", "input_factor", "conv_zero_point", "conv_factor", "bits", "zero_point",
                          "act_min", "act_max"):
                values[f"residual.{field}"] = _i32(res[field] if res else 0)
            values["residual.input"] = self.param("residual") if res else _i32(0)
        missing = [f for f in struct.field_names() if f not in values]
        if missing:
            raise AssertionError(f"{struct.name}: no value for {missing}")
        return [values[f] for f in struct.field_names()]

    def call(self, kernel: str, scratch, tile, *extra) -> tirx.Stmt:
        return tirx.Evaluate(tirx.call_extern("int32", kernel, *self.struct_values(scratch, tile), *extra))

    # ------------------------------------------------------------ plain
    def plain(self) -> tirx.PrimFunc:
        s = self.spec
        if s["op"] == "quantize":
            body = tirx.Evaluate(tirx.call_extern(
                "int32", s["kernel"], self.param("input"), self.param("output"), _i32(s["count"]),
                tirx.const(float(np.float32(s["scale"])), "float32"), _i32(s["zero_point"])))
            return self.func.with_body(tirx.SeqStmt([*self.decls, body]) if self.decls else body)
        if s["op"] == "dense":
            size = mk.dense_s8_buffer_size(s["in_features"])
        elif s["op"] == "conv2d":
            size = mk.conv2d_s8_buffer_size(mk.ConvDims(**s["dims"]))
        else:
            size = mk.depthwise_conv2d_s8_buffer_size(mk.ConvDims(**s["dims"]))
        scratch = _scratch_buffer("scratch", size)
        before, after = self.epilogue()
        body = [*self.decls, *before, tirx.AllocBuffer(scratch, annotations={SCRATCH: 1}),
                self.call(s["kernel"], scratch, None), *after]
        return self.func.with_body(tirx.SeqStmt(body))

    # ------------------------------------------------------------ decoupled
    def decoupled(self, g: dae.Granularity) -> tirx.PrimFunc:
        s = self.spec
        if s["op"] == "dense":
            layout = mk.dense_tile_layout(s["batches"], s["in_features"], g.channels, g.dma)
            prefix, taps = "stm32dvfs_dense_tile", s["in_features"]
        else:
            d = mk.ConvDims(**s["dims"])
            if d.batches != 1:
                raise self.fail("a decoupled convolution of a batch of several inputs")
            if s["op"] == "conv2d":
                layout = mk.conv2d_tile_layout(d, g.rows, g.channels, g.dma)
                prefix, taps = "stm32dvfs_conv2d_tile", mk.conv_depth(d)
            else:
                layout = mk.depthwise_tile_layout(d, g.rows, g.channels, g.dma)
                prefix, taps = "stm32dvfs_depthwise_tile", d.kernel_h * d.kernel_w
        self.g, self.layout, self.prefix, self.taps = g, layout, prefix, taps
        self.tile = _scratch_buffer("tile", layout.bytes)
        self.rows_var = self.channels_var = None
        self.seen: set[str] = set()
        body = self._rewrite(self.func.body)
        if self.seen != {"input", "weights", "execute"}:
            raise self.fail(f"expected access (input, weights) and execute phases, found {sorted(self.seen)}")
        before, after = self.epilogue()
        return self.func.with_body(tirx.SeqStmt([*self.decls, *before,
                                                 tirx.AllocBuffer(self.tile, annotations={SCRATCH: 1}), body, *after]))

    def _row0(self):
        if self.rows_var is None:
            return _i32(0)
        return tirx.Cast("int32", self.rows_var) * _i32(self.g.rows)

    def _channel0(self):
        if self.channels_var is None:
            return _i32(0)
        return tirx.Cast("int32", self.channels_var) * _i32(self.g.channels)

    def _weights_source(self, staged: bool):
        if staged:
            return _address(self.tile, self.layout.staging)
        return _address(self.views[self.spec["params"]["weights"]], self._channel0() * _i32(self.taps))

    def _phase_call(self, what: str, staged: bool = False) -> tirx.Stmt:
        self.seen = self.seen | {what}
        if what == "input":
            extra = [] if self.spec["op"] == "dense" else [self._row0()]
            if self.spec["op"] == "depthwise_conv2d":
                extra.append(self._channel0())
        elif what == "weights":
            extra = [self._channel0(), self._weights_source(staged)]
        else:
            extra = [self._row0(), self._channel0()] if self.spec["op"] != "dense" else [self._channel0()]
        return self.call(f"{self.prefix}_{what}_s16", self.tile, self.g, *extra)

    def _slice_address(self, channel_tile):
        """The weight slice of output-channel tile ``channel_tile`` (OIHW / NK: contiguous)."""
        return _address(self.views[self.spec["params"]["weights"]], channel_tile * _i32(self.g.channels * self.taps))

    def _dma_access(self, mode_id: int) -> tirx.Stmt:
        """The staged weight access: the transfer, then the widening from the staged copy.

        Sleep: one transfer the core sleeps through. Overlap: wait for the transfer of this tile's
        slice (started during the previous tile; the runtime copies it now if none was), widen
        it, and start the next tile's slice into the staging buffer, which the execute phase does
        not read: the next tile is the next channel tile, wrapping to the first one of the next
        row tile; the layer's last tile starts nothing, so no transfer outlives the layer."""
        staging = _address(self.tile, self.layout.staging)
        nbytes = _i32(self.g.channels * self.taps)
        channel = tirx.Cast("int32", self.channels_var) if self.channels_var is not None else _i32(0)
        this = self._slice_address(channel)
        widen = self._phase_call("weights", staged=True)
        if dae.DMA_MODE_OF_ID[mode_id] == dae.DMA_SLEEP:
            return tirx.SeqStmt([tirx.Evaluate(tirx.call_extern("int32", "stm32dvfs_dma_copy_sleep", staging, this,
                                                                nbytes)), widen])
        d = mk.ConvDims(**self.spec["dims"]) if "dims" in self.spec else None
        out_channels = d.out_channels if d is not None else self.spec["out_features"]
        channel_tiles = out_channels // self.g.channels
        row_tiles = d.out_height // self.g.rows if d is not None else 1
        row = tirx.Cast("int32", self.rows_var) if self.rows_var is not None else _i32(0)
        tiles_left = _i32(row_tiles * channel_tiles - 1) - (row * _i32(channel_tiles) + channel)
        following = self._slice_address(tirx.floormod(channel + _i32(1), _i32(channel_tiles)))
        prefetch = tirx.Evaluate(tirx.call_extern("int32", "stm32dvfs_dma_prefetch", staging, following, nbytes))
        return tirx.SeqStmt([
            tirx.Evaluate(tirx.call_extern("int32", "stm32dvfs_dma_await", staging, this, nbytes)), widen,
            tirx.IfThenElse(tiles_left > _i32(0), prefetch, None)])

    def _writes(self, stmt) -> set[str]:
        """Names of the buffers a nest stores to."""
        names: set[str] = set()

        def visit(node):
            if type(node).__name__ == "BufferStore":
                names.add(node.buffer.name)

        tvm_ffi_walk(stmt, visit)
        return names

    def _classify(self, stmt) -> str:
        writes = self._writes(stmt)
        if any(n.startswith("pad_temp") for n in writes):
            return "input"
        if any(n.startswith("weights_wide") for n in writes):
            return "weights"
        if any(n in ("conv2d_acc", "dense_acc") for n in writes):
            return "execute"
        output = self.views[self.spec["params"]["output"]].name
        if output in writes:
            return "output"
        raise self.fail(f"a loop nest writing {sorted(writes)} in a decoupled kernel")

    def _rewrite(self, stmt):
        t = type(stmt).__name__
        if t == "SeqStmt":
            out = []
            skip_widen = False
            for s in stmt.seq:
                kind = type(s).__name__
                if kind in ("DeclBuffer", "AllocBuffer"):
                    continue  # parameter views are re-declared first; tile caches give way to the tile buffer
                if kind != "AttrStmt" and not self._has_phase(s):
                    role = self._classify(s)
                    if role == "output":
                        continue  # the requantisation after the execute phase: part of its micro-kernel
                    if role == "weights" and skip_widen:
                        skip_widen = False
                        continue  # the widening of a DMA-staged slice: part of the weights micro-kernel
                    raise self.fail(f"a {role} loop nest outside a phase")
                new = self._rewrite(s)
                if kind == "AttrStmt" and str(s.attr_key) == dae.DMA_PRAGMA:
                    skip_widen = True
                out.append(new)
            return tirx.SeqStmt(out) if len(out) != 1 else out[0]
        if t == "AttrStmt":
            key = str(stmt.attr_key)
            if key == dae.TILE_PRAGMA:
                loop = stmt.body
                if type(loop).__name__ != "For":
                    raise self.fail("a tile annotation not on a loop")
                if int(stmt.value.value) == dae.TILE_ROWS:
                    self.rows_var = loop.loop_var
                else:
                    self.channels_var = loop.loop_var
                return tirx.AttrStmt(stmt.node, key, stmt.value, self._rewrite(loop))
            if key == dae.DMA_PRAGMA:
                body = self._dma_access(int(stmt.value.value))
                return tirx.AttrStmt(stmt.node, dae.PHASE_PRAGMA, tirx.const(dae.PHASE_IDS[dae.ACCESS], "int32"), body)
            if key == dae.PHASE_PRAGMA:
                role = self._classify(stmt.body)
                return tirx.AttrStmt(stmt.node, key, stmt.value, self._phase_call(role))
            return tirx.AttrStmt(stmt.node, key, stmt.value, self._rewrite(stmt.body))
        if t == "For":
            return tirx.For(stmt.loop_var, stmt.min, stmt.extent, stmt.kind, self._rewrite(stmt.body))
        raise self.fail(f"TIR statement {t} in a decoupled kernel")

    @staticmethod
    def _has_phase(stmt) -> bool:
        found = []

        def visit(node):
            if type(node).__name__ == "AttrStmt" and str(node.attr_key) in (dae.PHASE_PRAGMA, dae.TILE_PRAGMA,
                                                                           dae.DMA_PRAGMA):
                found.append(node)

        tvm_ffi_walk(stmt, visit)
        return bool(found)


def tvm_ffi_walk(node, visit) -> None:
    import tvm_ffi

    tvm_ffi.structural_walk(node, visit)


def _scratch_buffer(name: str, nbytes: int):
    return tirx.decl_buffer((max(int(nbytes), 1),), "int8", name=name)


def use_micro_kernels(func: tirx.PrimFunc, name: str = "kernel") -> tirx.PrimFunc:
    """``func`` (flattened) with its loops replaced by library calls, as its spec says."""
    spec = spec_of(func)
    if spec is None:
        return func
    lowering = _Lowering(func, spec, name)
    if func.attrs is not None and dae.DAE_ATTR in func.attrs:
        return lowering.decoupled(dae.Granularity.parse(str(func.attrs[dae.GRANULARITY_ATTR])))
    return lowering.plain()


@tvm.transform.module_pass(opt_level=0, name="UseMicroKernels")
class UseMicroKernels:
    """Replace the loops of every described, flattened PrimFunc by calls into the kernel library."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        out = tvm.IRModule(dict(mod.functions_items()), attrs=mod.attrs)
        for gv, func in mod.functions_items():
            if isinstance(func, tirx.PrimFunc):
                out[gv] = use_micro_kernels(func, gv.name_hint)
        return out
