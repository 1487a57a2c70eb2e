"""Code generation: lowered PrimFuncs and the execution plan -> C sources."""

from .emit import CSources, emit_sources
from .tir_to_c import CFunction, CParam, emit_function

__all__ = ["CSources", "emit_sources", "CFunction", "CParam", "emit_function"]
