"""The int8 kernel library of ``runtime/include/stm32dvfs_nn.h``, as the compiler sees it.

Three things live here, each mirroring the C:

* the argument structs (:data:`CONV2D_ARGS`, :data:`DENSE_ARGS`): their field paths in order and
  C types, so that a TIR ``call_extern`` of a library kernel can carry the fields as arguments
  and the C emitter can print them as a designated initializer;
* the kernels (:data:`KERNELS`): name, struct, and the scalar arguments after the struct;
* the scratch sizes and tile layouts (``*_buffer_size``, ``*_tile_layout``), which the memory
  planner and the DAE tile options use. ``tests/runtime/test_nn_kernels.py`` compares them with
  the C functions over many shapes.

It is stage-neutral data: the DAE tiling (tile buffer bytes), the lowering pass that replaces
loops by kernel calls and the C printer all read it.
"""

from __future__ import annotations

from dataclasses import dataclass


# ------------------------------------------------------------------ argument structs
@dataclass(frozen=True)
class StructSpec:
    """A C argument struct: its type name and its fields (dotted paths into nested structs) with
    their C types; pointer fields end in ``*``."""

    name: str
    fields: tuple[tuple[str, str], ...]

    def field_names(self) -> tuple[str, ...]:
        return tuple(f for f, _ in self.fields)

    def index(self, field: str) -> int:
        return self.field_names().index(field)


_REQUANT = (("requant.multiplier", "const int32_t*"), ("requant.shift", "const int32_t*"),
            ("requant.zero_point", "int32_t"), ("requant.act_min", "int32_t"), ("requant.act_max", "int32_t"),
            ("requant.fast", "int32_t"), ("requant.rounding", "int32_t"))
_RESIDUAL = (("residual.input", "const int8_t*"), ("residual.input_zero_point", "int32_t"),
             ("residual.input_factor", "int32_t"), ("residual.conv_zero_point", "int32_t"),
             ("residual.conv_factor", "int32_t"), ("residual.bits", "int32_t"), ("residual.zero_point", "int32_t"),
             ("residual.act_min", "int32_t"), ("residual.act_max", "int32_t"))
_DIMS = tuple((f"dims.{f}", "int32_t") for f in (
    "batches", "in_channels", "in_height", "in_width", "out_channels", "out_height", "out_width", "kernel_h",
    "kernel_w", "stride_h", "stride_w", "pad_top", "pad_left", "dilation_h", "dilation_w"))

#: stm32dvfs_conv2d_args
CONV2D_ARGS = StructSpec("stm32dvfs_conv2d_args", (
    ("input", "const int8_t*"), ("input_zero_point", "int32_t"), ("weights", "const int8_t*"),
    ("bias", "const int32_t*"), ("output", "int8_t*"), ("buffer", "int8_t*"), *_DIMS, *_REQUANT, *_RESIDUAL,
    ("tile_rows", "int32_t"), ("tile_channels", "int32_t"),
))

#: stm32dvfs_dense_args
DENSE_ARGS = StructSpec("stm32dvfs_dense_args", (
    ("input", "const int8_t*"), ("input_zero_point", "int32_t"), ("weights", "const int8_t*"),
    ("bias", "const int32_t*"), ("output", "int8_t*"), ("buffer", "int8_t*"), ("batches", "int32_t"),
    ("in_features", "int32_t"), ("out_features", "int32_t"), *_REQUANT, ("tile_channels", "int32_t"),
))


@dataclass(frozen=True)
class KernelSpec:
    """A library function: its argument struct (None: plain arguments), the scalar arguments
    that follow the struct pointer, the DAE phase it belongs to (None: a plain kernel) and, for a
    function with plain arguments, which of them it writes through."""

    name: str
    struct: StructSpec | None
    extra: tuple[str, ...] = ()
    phase: str | None = None
    writes: tuple[int, ...] = ()


KERNELS: dict[str, KernelSpec] = {k.name: k for k in (
    KernelSpec("stm32dvfs_conv2d_s8", CONV2D_ARGS),
    KernelSpec("stm32dvfs_depthwise_conv2d_s8", CONV2D_ARGS),
    KernelSpec("stm32dvfs_dense_s8", DENSE_ARGS),
    KernelSpec("stm32dvfs_quantize_f32_s8", None, writes=(1,)),
    KernelSpec("stm32dvfs_dma_copy_sleep", None, writes=(0,), phase="access"),
    KernelSpec("stm32dvfs_dma_await", None, writes=(0,), phase="access"),
    KernelSpec("stm32dvfs_dma_prefetch", None, writes=(0,), phase="access"),
    KernelSpec("stm32dvfs_conv2d_tile_input_s16", CONV2D_ARGS, ("row0",), "access"),
    KernelSpec("stm32dvfs_conv2d_tile_weights_s16", CONV2D_ARGS, ("channel0", "weights"), "access"),
    KernelSpec("stm32dvfs_conv2d_tile_execute_s16", CONV2D_ARGS, ("row0", "channel0"), "execute"),
    KernelSpec("stm32dvfs_depthwise_tile_input_s16", CONV2D_ARGS, ("row0", "channel0"), "access"),
    KernelSpec("stm32dvfs_depthwise_tile_weights_s16", CONV2D_ARGS, ("channel0", "weights"), "access"),
    KernelSpec("stm32dvfs_depthwise_tile_execute_s16", CONV2D_ARGS, ("row0", "channel0"), "execute"),
    KernelSpec("stm32dvfs_dense_tile_input_s16", DENSE_ARGS, (), "access"),
    KernelSpec("stm32dvfs_dense_tile_weights_s16", DENSE_ARGS, ("channel0", "weights"), "access"),
    KernelSpec("stm32dvfs_dense_tile_execute_s16", DENSE_ARGS, ("channel0",), "execute"),
)}


# ------------------------------------------------------------------ shapes and scratch sizes
@dataclass(frozen=True)
class ConvDims:
    """stm32dvfs_conv_dims."""

    batches: int
    in_channels: int
    in_height: int
    in_width: int
    out_channels: int
    out_height: int
    out_width: int
    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    dilation_h: int
    dilation_w: int

    def fields(self) -> dict[str, int]:
        return {f"dims.{k}": int(v) for k, v in self.__dict__.items()}


def _round8(n: int) -> int:
    return (n + 7) & ~7


def conv_depth(d: ConvDims) -> int:
    return d.in_channels * d.kernel_h * d.kernel_w


def window(out: int, stride: int, kernel: int, dilation: int) -> int:
    """stm32dvfs_window: input rows / columns (padding included) ``out`` outputs read."""
    return (out - 1) * stride + (kernel - 1) * dilation + 1


def conv2d_s8_buffer_size(d: ConvDims) -> int:
    return 32 * ((conv_depth(d) + 3) // 4)


def depthwise_plane_width(d: ConvDims) -> int:
    return window(d.out_width, d.stride_w, d.kernel_w, d.dilation_w) + 4


def depthwise_conv2d_s8_buffer_size(d: ConvDims) -> int:
    return window(d.out_height, d.stride_h, d.kernel_h, d.dilation_h) * depthwise_plane_width(d)


def dense_s8_buffer_size(in_features: int) -> int:
    return 8 * ((in_features + 3) // 4)


@dataclass(frozen=True)
class TileLayout:
    """stm32dvfs_tile_layout: byte offsets of a tile's buffers in the layer's scratch."""

    table: int
    weights: int
    input: int
    staging: int
    bytes: int


def conv2d_tile_layout(d: ConvDims, rows: int, channels: int, staged: bool) -> TileLayout:
    depth = conv_depth(d)
    kpairs = (depth + 1) // 2
    blocks = (rows * d.out_width + 3) // 4
    pairs = (channels + 1) // 2
    weights = 32 * pairs
    inp = weights + 8 * pairs * kpairs
    staging = inp + 16 * blocks * kpairs
    return TileLayout(0, weights, inp, staging, _round8(staging + (channels * depth if staged else 0)))


def depthwise_tile_is_3x3(d: ConvDims) -> bool:
    return (d.kernel_h == d.kernel_w == 3 and d.dilation_h == d.dilation_w == 1 and d.stride_h == d.stride_w
            and d.stride_h in (1, 2))


def depthwise_tile_layout(d: ConvDims, rows: int, channels: int, staged: bool) -> TileLayout:
    in_rows = window(rows, d.stride_h, d.kernel_h, d.dilation_h)
    in_cols = window(d.out_width, d.stride_w, d.kernel_w, d.dilation_w)
    row = 8 * ((in_cols + 3) // 4 + 1)
    weight_bytes = 24 if depthwise_tile_is_3x3(d) else 2 * d.kernel_h * ((d.kernel_w + 1) // 2 * 2)
    weights = 16 * channels
    inp = weights + channels * weight_bytes
    staging = inp + channels * in_rows * row
    taps = d.kernel_h * d.kernel_w
    return TileLayout(0, weights, inp, staging, _round8(staging + (channels * taps if staged else 0)))


def dense_tile_layout(batches: int, in_features: int, channels: int, staged: bool) -> TileLayout:
    kpairs = (in_features + 1) // 2
    pairs = (channels + 1) // 2
    weights = 32 * pairs
    inp = weights + 8 * pairs * kpairs
    staging = inp + batches * 4 * kpairs
    return TileLayout(0, weights, inp, staging, _round8(staging + (channels * in_features if staged else 0)))
