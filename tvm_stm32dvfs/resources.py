"""Where the non-Python parts of the package live: jinja2 templates, the C runtime, CMake files.

In a checkout they are the top-level ``codegen/``, ``runtime/`` and ``cmake/`` folders; the wheel
carries them as ``tvm_stm32dvfs/_data/<folder>`` (hatchling force-include), so an installed
package works outside the checkout.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from .errors import ToolchainError

_PACKAGE = Path(__file__).resolve().parent


def data_dir(kind: str) -> Path:
    """The folder ``kind`` (``codegen``, ``runtime`` or ``cmake``) of this installation."""
    for candidate in (_PACKAGE / "_data" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise ToolchainError(f"the package's '{kind}' folder is missing: reinstall tvm-stm32dvfs")


@lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    """The jinja2 environment of the emitted C and CMake files (undefined names are errors)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("codegen"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
