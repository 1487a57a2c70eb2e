"""The project's TVM passes, usable in any ``tvm.transform.Sequential``."""

from .annotate_dvfs import AnnotateDvfs
from .decouple_access_execute import DecoupleAccessExecute
from .pipeline import PIPELINE_NAME, stm32dvfs_pipeline

__all__ = ["AnnotateDvfs", "DecoupleAccessExecute", "PIPELINE_NAME", "stm32dvfs_pipeline"]
