"""The project's TVM passes, usable in any ``tvm.transform.Sequential``."""

from .decouple_access_execute import DecoupleAccessExecute

__all__ = ["DecoupleAccessExecute"]
