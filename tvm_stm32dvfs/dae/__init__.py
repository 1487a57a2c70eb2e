"""Decoupled access-execute: the DAE tiling of the int8 kernels (:mod:`.tiles`), as a TVM module
pass (:class:`DecoupleAccessExecute`) and inside the named Relax pipeline ``stm32dvfs``."""

from .decouple import DecoupleAccessExecute, GranularityChoice
from .tiles import (ACCESS, DECOUPLED_OPS, DEFAULT_TILE_BUDGET, DMA_MODES, DMA_PRAGMA, EXECUTE, PHASE_IDS, PHASE_PRAGMA,
                    TILE_CHANNELS, TILE_PRAGMA, TILE_ROWS, Granularity, KernelShape, TileOption, buffer_bytes,
                    decouple, default_granularity, kernel_shape, phase_events, tile_options)

__all__ = [
    "ACCESS", "DECOUPLED_OPS", "DEFAULT_TILE_BUDGET", "DMA_MODES", "DMA_PRAGMA", "EXECUTE", "PHASE_IDS", "PHASE_PRAGMA",
    "TILE_CHANNELS", "TILE_PRAGMA", "TILE_ROWS", "DecoupleAccessExecute", "Granularity", "GranularityChoice",
    "KernelShape", "TileOption", "buffer_bytes", "decouple", "default_granularity", "kernel_shape", "phase_events",
    "tile_options",
]
