"""Lowering: Relax IRModule -> fused, flattened PrimFuncs in execution order, the int8 library's
micro-kernels recognised in them, and a static arena plan (the project's AOT layer)."""

from .lowering import (STACK_SCRATCH_LIMIT_BYTES, Kernel, Layer, LoweredModel, ScratchBuffer, Step, TensorInfo,
                       arena_scratch, count_macs, dtype_bytes, in_arena, lifetimes, lower, lower_primfuncs, op_kind,
                       relax_passes, scratch_key, tir_passes)

__all__ = [
    "STACK_SCRATCH_LIMIT_BYTES", "Kernel", "Layer", "LoweredModel", "ScratchBuffer", "Step", "TensorInfo",
    "arena_scratch", "count_macs", "dtype_bytes", "in_arena", "lifetimes", "lower", "lower_primfuncs", "op_kind",
    "relax_passes", "scratch_key", "tir_passes",
]
