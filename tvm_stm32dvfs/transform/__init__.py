"""The project's TVM passes, usable in any ``tvm.transform.Sequential``."""

__all__: list[str] = []
