"""Decoupled access-execute (DAE) tiling of the int8 convolution and dense kernels.

Every tile of a decoupled kernel runs in two phases, each announced to the runtime
(``stm32dvfs_phase``) so that it can run at its own clock state:

* ACCESS gathers the tile's operands from their home (arena, flash) into SRAM tile buffers,
  widened to int16 with the input zero point subtracted once: the im2col columns of the tile's
  output rows for a regular convolution, the padded input rows of the tile's channels for a
  depthwise one, the weight slice of the tile's output channels (and, for a dense layer, the
  input vector once).
* EXECUTE multiplies and accumulates reading only those buffers, then requantises and applies
  the fused epilogue while writing the tile's outputs.

The tiling is a ``tvm.s_tir.Schedule`` of the kernel: split the output rows and channels by the
granularity, ``reindex_cache_read`` / ``compute_at`` the operands under the tile loops (their
buffers shrink to the tile when compacted), ``reverse_compute_at`` the epilogue, and mark each
phase's loop with the ``pragma_stm32dvfs_phase`` annotation, which the C emitter prints as the
runtime call. The granularity — output rows x output channels per tile — is the optimizer's
choice; :func:`tile_options` lists the valid ones with their buffer bytes and phase events.
"""

from __future__ import annotations

from dataclasses import dataclass

from tvm import s_tir, tirx

from ..lower import library as mk
# the pragmas and Granularity are the shared vocabulary; importable from here too
from ..vocabulary import (DMA_MODE_IDS, DMA_MODES, DMA_PRAGMA, PHASE_IDS, PHASE_PRAGMA, TILE_CHANNELS,  # noqa: F401
                         TILE_PRAGMA, TILE_ROWS, Granularity)

#: the values of PHASE_PRAGMA on a phase's loop
ACCESS = PHASE_IDS["access"]
EXECUTE = PHASE_IDS["execute"]
_ACC_BLOCKS = ("conv2d_acc", "dense_acc")
_OUT_BLOCKS = {"conv2d_acc": "conv2d_s8", "dense_acc": "dense_s8"}
#: the reduction blocks of TVM's float legalisations (TOPI) that DAE tiles
_FLOAT_BLOCKS = ("conv2d_nchw", "group_conv2d_nchw", "matmul")
DECOUPLED_OPS = ("conv2d", "depthwise_conv2d", "dense")


@dataclass(frozen=True)
class KernelShape:
    """What the tiling needs to know of a decouplable kernel."""

    op: str  # conv2d, depthwise_conv2d or dense
    out_rows: int
    out_width: int
    out_channels: int
    reduce_elems: int  # MACs per output element
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    dilations: tuple[int, int] = (1, 1)
    dtype: str = "int8"  # int8: int16 tiles (im2col for conv2d); float32: float32 padded-row tiles
    in_channels: int = 0  # float convs: input channels (a regular conv's tile holds all of them)
    accumulator: bool = True  # the sums live in a tile buffer (False: written straight to the output)
    batches: int = 1  # rows of a dense layer's input (a decoupled convolution takes one image)


@dataclass(frozen=True)
class TileOption:
    granularity: Granularity
    buffer_bytes: int  # all tile buffers: input patch, weight slice, accumulators
    phase_events: int  # stm32dvfs_phase calls per run of the kernel


def _find_acc_block(sch: s_tir.Schedule):
    for name in _ACC_BLOCKS + _FLOAT_BLOCKS:
        try:
            return name, sch.get_sblock(name)
        except Exception:  # noqa: BLE001 - TVM raises when the block does not exist
            continue
    return None, None


def kernel_shape(func: tirx.PrimFunc) -> KernelShape | None:
    """The shape of a decouplable int8 kernel, or None for any other PrimFunc."""
    sch = s_tir.Schedule(func)
    name, block = _find_acc_block(sch)
    if block is None:
        return None
    stmt = sch.get(block)
    if name in _FLOAT_BLOCKS:
        writes_output = any(stmt.writes[0].source.same_as(p) for p in func.params)
        if name == "matmul":
            return _float_dense_shape(stmt, accumulator=not writes_output)
        return _float_conv_shape(stmt, accumulator=not writes_output)
    op = str(stmt.annotations.get("stm32dvfs.op", ""))
    extents = [int(iv.dom.extent) for iv in stmt.iter_vars]
    if op == "dense":
        m, n, k = extents
        return KernelShape("dense", 1, 1, n, k, batches=m)
    if op not in ("conv2d", "depthwise_conv2d"):
        return None
    n, o, oh, ow, rc, kh, kw = extents
    if n != 1:
        return None  # a batch of images: the tiles hold one image
    ann = stmt.annotations
    return KernelShape(
        op, oh, ow, o, rc * kh * kw,
        kernel=tuple(int(v) for v in ann["stm32dvfs.kernel"]),
        strides=tuple(int(v) for v in ann["stm32dvfs.strides"]),
        dilations=tuple(int(v) for v in ann["stm32dvfs.dilations"]),
    )


def _float_dense_shape(stmt, accumulator: bool) -> KernelShape | None:
    """A TOPI float matmul (M, K) x (K, N) with constant-shaped 2-D operands."""
    ivs = stmt.iter_vars
    if len(ivs) != 3 or int(ivs[2].iter_type) == 0 or len(stmt.reads) != 2:
        return None
    if len(stmt.reads[1].source.ty.shape) != 2:
        return None
    _, n, k = (int(iv.dom.extent) for iv in ivs)
    return KernelShape("dense", 1, 1, n, k, dtype="float32", accumulator=accumulator)


def _float_conv_shape(stmt, accumulator: bool) -> KernelShape | None:
    """A TOPI float NCHW conv block: strides and dilations read off its padded-input indices."""
    import tvm

    ivs = stmt.iter_vars
    if len(ivs) != 7 or len(stmt.reads) < 2:
        return None
    _, o, oh, ow, rc, kh, kw = (int(iv.dom.extent) for iv in ivs)
    region = stmt.reads[0].region
    vy, vx, vry, vrx = ivs[2].var, ivs[3].var, ivs[5].var, ivs[6].var
    rows = tvm.sym.detect_linear_equation(region[2].min, [vy, vry])
    cols = tvm.sym.detect_linear_equation(region[3].min, [vx, vrx])
    if len(rows) != 3 or len(cols) != 3:
        return None
    pad_shape = [int(d) for d in stmt.reads[0].source.ty.shape]
    depthwise = rc == 1 and pad_shape[1] == o and o > 1
    if rc != pad_shape[1] and not depthwise:
        return None  # grouped convolution with several channels per group: not tiled
    return KernelShape(
        "depthwise_conv2d" if depthwise else "conv2d", oh, ow, o, rc * kh * kw,
        kernel=(kh, kw), strides=(int(rows[0].value), int(cols[0].value)),
        dilations=(int(rows[1].value), int(cols[1].value)), dtype="float32", in_channels=pad_shape[1],
        accumulator=accumulator,
    )


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _dims(shape: KernelShape) -> mk.ConvDims:
    """The library's shape of an int8 convolution, as far as its tile layout depends on it."""
    kh, kw = shape.kernel
    depthwise = shape.op == "depthwise_conv2d"
    return mk.ConvDims(1, shape.out_channels if depthwise else shape.reduce_elems // (kh * kw), 0, 0,
                       shape.out_channels, shape.out_rows, shape.out_width, kh, kw, *shape.strides, 0, 0,
                       *shape.dilations)


def buffer_bytes(shape: KernelShape, g: Granularity) -> int:
    """Bytes of the tile buffers of ``shape`` at granularity ``g``: for int8, the scratch of the
    library's tile micro-kernels (:mod:`tvm_stm32dvfs.lower.library`: laid-out input, widened
    weights, requantisation table, DMA staging); for float32, the cached tiles and sums."""
    if shape.dtype == "int8":
        if shape.op == "dense":
            return mk.dense_tile_layout(shape.batches, shape.reduce_elems, g.channels, g.dma).bytes
        if shape.op == "conv2d":
            return mk.conv2d_tile_layout(_dims(shape), g.rows, g.channels, g.dma).bytes
        return mk.depthwise_tile_layout(_dims(shape), g.rows, g.channels, g.dma).bytes
    acc = g.rows * shape.out_width * g.channels * 4 if shape.accumulator else 0
    if shape.op == "dense" and shape.dtype == "float32":
        return shape.reduce_elems * 4 + g.channels * shape.reduce_elems * 4 + acc
    in_rows = (g.rows - 1) * shape.strides[0] + (shape.kernel[0] - 1) * shape.dilations[0] + 1
    in_cols = (shape.out_width - 1) * shape.strides[1] + (shape.kernel[1] - 1) * shape.dilations[1] + 1
    channels = g.channels if shape.op == "depthwise_conv2d" else shape.in_channels
    return channels * in_rows * in_cols * 4 + g.channels * shape.reduce_elems * 4 + acc


def phase_events(shape: KernelShape, g: Granularity) -> int:
    """stm32dvfs_phase calls of one kernel run (the structure :func:`decouple` produces)."""
    row_tiles = shape.out_rows // g.rows
    channel_tiles = shape.out_channels // g.channels
    if shape.op == "dense":
        return 1 + 2 * channel_tiles
    if shape.op == "conv2d" and shape.dtype == "int8":
        return row_tiles * (1 + 2 * channel_tiles)
    return row_tiles * channel_tiles * 3  # padded rows, weights, execute


def tile_options(shape: KernelShape, max_buffer_bytes: int | None = None, max_options: int = 12,
                 dma: str = "") -> list[TileOption]:
    """Valid granularities (rows and channels dividing the output), smallest buffers first
    (with ``dma``, a DMA mode, the same tiles of an int8 kernel with the weight slice brought in
    by DMA in that mode; none for a float kernel, whose tiles the library's micro-kernels and so
    the runtime's DMA calls do not serve).

    Rows are powers of two and the full height; channels the divisors of the output channels
    that are multiples of 2 (SIMD pairs) or the whole. Options over ``max_buffer_bytes`` are
    dropped; so are dominated ones (bigger buffers without fewer phase events).
    """
    if dma and shape.dtype == "float32":
        return []
    rows = [r for r in _divisors(shape.out_rows) if (r & (r - 1)) == 0 or r == shape.out_rows]
    chans = [c for c in _divisors(shape.out_channels) if c % 2 == 0 or c == shape.out_channels]
    options = []
    for r in rows:
        for c in chans:
            g = Granularity(r, c, dma)
            b = buffer_bytes(shape, g)
            if max_buffer_bytes is None or b <= max_buffer_bytes:
                options.append(TileOption(g, b, phase_events(shape, g)))
    options.sort(key=lambda o: (o.buffer_bytes, o.phase_events))
    pareto: list[TileOption] = []
    for o in options:
        if not pareto or o.phase_events < pareto[-1].phase_events:
            pareto.append(o)
    if len(pareto) > max_options:  # keep the extremes and an even spread between them
        step = (len(pareto) - 1) / (max_options - 1)
        pareto = [pareto[round(i * step)] for i in range(max_options)]
    return pareto


def decouple(func: tirx.PrimFunc, g: Granularity) -> tirx.PrimFunc:
    """Schedule ``func`` (a kernel with a ``conv2d_acc`` or ``dense_acc`` block) into DAE tiles."""
    shape = kernel_shape(func)
    if shape is None or shape.op not in DECOUPLED_OPS:
        raise ValueError("not a decouplable kernel")
    if shape.out_rows % g.rows or shape.out_channels % g.channels:
        raise ValueError(f"granularity {g} does not divide {shape.out_rows} rows x {shape.out_channels} channels")
    if g.dma and shape.dtype == "float32":
        raise ValueError(f"granularity {g}: a float kernel's tiles are not copied by DMA (int8 kernels only)")
    sch = s_tir.Schedule(func)
    acc_name, acc = _find_acc_block(sch)
    if shape.dtype == "float32":
        (_decouple_float_dense if shape.op == "dense" else _decouple_float_conv)(sch, acc, g)
        return sch.mod["main"]
    out = sch.get_sblock(_OUT_BLOCKS[acc_name])
    _inline_epilogue(sch, out)
    if shape.op == "dense":
        _decouple_dense(sch, acc, out, g)
    else:
        _decouple_conv(sch, acc, out, g, depthwise=shape.op == "depthwise_conv2d")
    return sch.mod["main"]


def _inline_epilogue(sch: s_tir.Schedule, out) -> None:
    """Fold element-wise consumers of the requantised output (a fused residual add) into it."""
    changed = True
    while changed:
        changed = False
        for consumer in sch.get_consumers(out):
            try:
                sch.reverse_compute_inline(consumer)
                changed = True
            except Exception:  # noqa: BLE001 - a consumer that cannot be inlined stays a block
                continue


def _decouple_conv(sch, acc, out, g: Granularity, depthwise: bool) -> None:
    nn, oo, yy, xx, rc, ry, rx = sch.get_loops(acc)
    oo_o, oo_i = sch.split(oo, [None, g.channels])
    yy_o, yy_i = sch.split(yy, [None, g.rows])
    sch.reorder(yy_o, oo_o, yy_i, xx, oo_i, rc, ry, rx)
    pad = sch.get_sblock("pad_temp")
    if depthwise:
        # padded input rows of the tile's channels
        sch.compute_at(pad, oo_o)
        patch, level = pad, 3
    else:
        # im2col columns of the tile's rows, gathered once per row tile
        patch = sch.reindex_cache_read(acc, 0, "global", lambda n, o, y, x, c, r, s: (n, y, x, c, r, s))
        sch.compute_inline(pad)
        sch.compute_at(patch, yy_o)
        level = 2
    weights = sch.get_sblock("weights_wide")
    sch.compute_at(weights, oo_o)
    dma_loop = _stage_by_dma(sch, sch.cache_read(weights, 0, "global"), oo_o, g.dma) if g.dma else None
    sch.reverse_compute_at(out, oo_o)
    if not depthwise:
        # one reduction loop over the tile's K = channels x kernel taps: both operands are then
        # contiguous in it (a dot product the C emitter maps to SMLAD); a depthwise window is
        # not contiguous, and fusing its taps would only add divisions
        sch.fuse(*sch.get_loops(acc)[6:9])
    sch.decompose_reduction(acc, sch.get_loops(acc)[6])
    sch.annotate(sch.get_loops(patch)[level], PHASE_PRAGMA, ACCESS)
    # the weight access starts with the DMA transfer when there is one
    sch.annotate(dma_loop if dma_loop is not None else sch.get_loops(weights)[3], PHASE_PRAGMA, ACCESS)
    sch.annotate(sch.get_loops(acc)[3], PHASE_PRAGMA, EXECUTE)
    sch.annotate(yy_o, TILE_PRAGMA, TILE_ROWS)
    sch.annotate(oo_o, TILE_PRAGMA, TILE_CHANNELS)


def _stage_by_dma(sch, copy, at_loop, mode: str):
    """Place ``copy`` (a cache of the weights) under ``at_loop`` as one flat loop marked for DMA in
    ``mode`` (the pragma's value is its DMA_MODE_IDS entry).

    A tile's weight slice is contiguous (OIHW / NK), so the copy is one memory-to-memory
    transfer; the micro-kernel lowering turns it into the runtime's DMA calls: a transfer the
    core sleeps through (sleep), or the wait for the transfer started during the previous tile's
    execute phase and the start of the next tile's (overlap: the staging buffer is free again
    once the slice is widened into the weight buffer the execute phase reads)."""
    def depth_of_target(loops) -> int | None:
        target = sch.get_sref(at_loop)  # srefs stay valid across transformations, IR nodes do not
        return next((i + 1 for i, lp in enumerate(loops) if sch.get_sref(lp).same_as(target)), None)

    loops = sch.get_loops(copy)
    if depth_of_target(loops) is None:
        sch.compute_at(copy, at_loop)
        loops = sch.get_loops(copy)
    depth = depth_of_target(loops)
    inner = loops[depth:]
    flat = sch.fuse(*inner) if len(inner) > 1 else inner[0]
    sch.annotate(flat, DMA_PRAGMA, DMA_MODE_IDS[mode])
    return flat


def _decouple_float_conv(sch, acc, g: Granularity) -> None:
    """Float conv: padded input rows and the weight slice per tile, float32 throughout."""
    last = _fold_float_epilogue(sch, acc)  # bias, activation: computed per tile
    nn, oo, yy, xx, rc, ry, rx = sch.get_loops(acc)
    oo_o, oo_i = sch.split(oo, [None, g.channels])
    yy_o, yy_i = sch.split(yy, [None, g.rows])
    sch.reorder(yy_o, oo_o, yy_i, xx, oo_i, rc, ry, rx)
    pad = sch.get_sblock("pad_temp")
    sch.compute_at(pad, oo_o)
    weights = sch.cache_read(acc, 1, "global")
    sch.compute_at(weights, oo_o)
    if last is not None:
        sch.reverse_compute_at(last, oo_o)
    sch.decompose_reduction(acc, sch.get_loops(acc)[6])
    sch.annotate(sch.get_loops(pad)[3], PHASE_PRAGMA, ACCESS)
    sch.annotate(sch.get_loops(weights)[3], PHASE_PRAGMA, ACCESS)
    sch.annotate(sch.get_loops(acc)[3], PHASE_PRAGMA, EXECUTE)


def _fold_float_epilogue(sch, acc):
    """Element-wise blocks after a float reduction folded into the last one; returns it (or None)."""
    root = sch.get_sblock("root")
    epilogue = [b for b in sch.get_child_blocks(root) if sch.get(b).name_hint not in ("pad_temp",)
                and not sch.get(b).same_as(sch.get(acc))]
    for block in epilogue[:-1]:
        sch.compute_inline(block)
    return sch.get_sblock(sch.get(epilogue[-1]).name_hint) if epilogue else None


def _decouple_float_dense(sch, acc, g: Granularity) -> None:
    """Float matmul: the input vector once, the weight columns of each channel tile, float32."""
    last = _fold_float_epilogue(sch, acc)
    ii, jj, kk = sch.get_loops(acc)
    jj_o, jj_i = sch.split(jj, [None, g.channels])
    sch.reorder(jj_o, ii, jj_i, kk)
    x = sch.cache_read(acc, 0, "global")
    weights = sch.cache_read(acc, 1, "global")
    sch.compute_at(weights, jj_o)
    if last is not None:
        sch.reverse_compute_at(last, jj_o)
    sch.decompose_reduction(acc, sch.get_loops(acc)[3])
    sch.annotate(sch.get_loops(x)[0], PHASE_PRAGMA, ACCESS)
    sch.annotate(sch.get_loops(weights)[1], PHASE_PRAGMA, ACCESS)
    sch.annotate(sch.get_loops(acc)[1], PHASE_PRAGMA, EXECUTE)


def _decouple_dense(sch, acc, out, g: Granularity) -> None:
    ii, jj, kk = sch.get_loops(acc)
    jj_o, jj_i = sch.split(jj, [None, g.channels])
    sch.reorder(jj_o, ii, jj_i, kk)
    centred = sch.get_sblock("pad_temp")
    weights = sch.get_sblock("weights_wide")
    sch.compute_at(weights, jj_o)
    dma_loop = _stage_by_dma(sch, sch.cache_read(weights, 0, "global"), jj_o, g.dma) if g.dma else None
    sch.reverse_compute_at(out, jj_o)
    sch.decompose_reduction(acc, sch.get_loops(acc)[3])
    sch.annotate(sch.get_loops(centred)[0], PHASE_PRAGMA, ACCESS)
    sch.annotate(dma_loop if dma_loop is not None else sch.get_loops(weights)[1], PHASE_PRAGMA, ACCESS)
    sch.annotate(sch.get_loops(acc)[1], PHASE_PRAGMA, EXECUTE)
    sch.annotate(jj_o, TILE_PRAGMA, TILE_CHANNELS)


#: Default SRAM budget of one kernel's tile buffers when no plan chooses the granularity.
DEFAULT_TILE_BUDGET = 16 * 1024


def default_granularity(shape: KernelShape, max_buffer_bytes: int = DEFAULT_TILE_BUDGET) -> Granularity:
    """Fewest phase events within the budget (else the smallest tiles)."""
    options = tile_options(shape, max_buffer_bytes)
    if not options:
        options = tile_options(shape)[:1]
    return options[-1].granularity
