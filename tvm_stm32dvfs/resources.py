"""Where the non-Python parts of the package live: each stage's jinja2 templates sit beside it
(``<stage>/templates/``); the C runtime and the CMake files are the top-level ``runtime/`` and
``cmake/`` folders of a checkout, which the wheel carries as ``tvm_stm32dvfs/_data/<folder>``
(hatchling force-include), so an installed package works outside the checkout.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from .errors import ToolchainError

_PACKAGE = Path(__file__).resolve().parent


def data_dir(kind: str) -> Path:
    """The folder ``kind`` (``runtime`` or ``cmake``) of this installation."""
    for candidate in (_PACKAGE / "_data" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise ToolchainError(f"the package's '{kind}' folder is missing: reinstall tvm-stm32dvfs")


@lru_cache(maxsize=None)
def templates(stage: str) -> jinja2.Environment:
    """The jinja2 environment of the templates of ``stage`` (``codegen``, ``project`` or
    ``sim``), undefined names being errors."""
    folder = _PACKAGE / stage / "templates"
    if not folder.is_dir():
        raise ToolchainError(f"the package's '{stage}/templates' folder is missing: reinstall tvm-stm32dvfs")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
