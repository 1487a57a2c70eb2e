"""The project's TVM passes, usable in any ``tvm.transform.Sequential``."""

from ..optimize.annotate import AnnotateDvfs
from ..dae.decouple import DecoupleAccessExecute
from ..dae.pipeline import PIPELINE_NAME, stm32dvfs_pipeline

__all__ = ["AnnotateDvfs", "DecoupleAccessExecute", "PIPELINE_NAME", "stm32dvfs_pipeline"]
