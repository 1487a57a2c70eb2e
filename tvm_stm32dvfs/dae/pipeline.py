"""The project's passes as a named Relax pipeline: ``relax.get_pipeline("stm32dvfs")``.

It is what :func:`tvm_stm32dvfs.build` runs before flattening the PrimFuncs: the Relax "zero"
pipeline with BatchNormalization folding, then the DAE tiling of the int8 kernels.
"""

from __future__ import annotations

import tvm
from tvm import relax

PIPELINE_NAME = "stm32dvfs"


def stm32dvfs_pipeline(dae: bool = True, granularity=None) -> tvm.transform.Pass:
    """Relax module -> fused PrimFuncs, int8 convolutions and dense layers DAE-tiled."""
    from ..lower import relax_passes
    from .decouple import DecoupleAccessExecute

    passes = list(relax_passes())
    if dae:
        passes.append(DecoupleAccessExecute(granularity))
    return tvm.transform.Sequential(passes, name=PIPELINE_NAME)


def register() -> None:
    """Register the pipeline once (importing the package twice must not fail)."""
    from tvm.relax.pipeline import PIPELINE_MAP

    if PIPELINE_NAME not in PIPELINE_MAP:
        relax.register_pipeline(PIPELINE_NAME)(stm32dvfs_pipeline)
