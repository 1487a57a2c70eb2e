"""The project's exceptions: one class per kind of bad input.

Every error a user can cause is a :class:`Stm32DvfsError`. Its message is one line that names the
problem and how to fix it; the command line prints exactly that line and exits with status 2.
"""

from __future__ import annotations


class Stm32DvfsError(Exception):
    """Base class of every error caused by bad input (model, board, budget, arguments)."""


class ModelFormatError(Stm32DvfsError):
    """The file is not a readable ONNX model (missing, corrupt, truncated, or another format)."""


class UnsupportedOperatorError(Stm32DvfsError):
    """The model uses an operator, attribute or data type that the backend cannot compile."""


class DynamicShapeError(Stm32DvfsError):
    """A tensor shape is not known at compile time; fix it with ``shape=`` / ``--shape``."""


class InputMismatchError(Stm32DvfsError):
    """A run-time input has the wrong name, shape or dtype for the compiled model."""


class BoardDataError(Stm32DvfsError):
    """A board file is malformed or inconsistent, or names an unknown board."""


class InfeasibleBudgetError(Stm32DvfsError):
    """No plan meets the latency budget; the message states the minimum achievable latency."""


class SolverLimitError(Stm32DvfsError):
    """The exact solver proved no plan within its time limit (the budget may still be feasible)."""


class ResourceLimitError(Stm32DvfsError):
    """The model does not fit the board's flash or SRAM; the message states needed vs available."""


class ToolchainError(Stm32DvfsError):
    """An external tool the step needs (gcc, arm-none-eabi-gcc, qemu) is missing or failed."""


class BoardLinkError(Stm32DvfsError):
    """The serial link to a board (or its QEMU stand-in) failed: no answer in time, a garbled or
    truncated frame, or a firmware that runs another model."""


class Stm32DvfsWarning(UserWarning):
    """Something the user should know about a choice made for them (one line; the command line
    prints it as ``note: ...``), e.g. the batch size of a model with a dynamic batch dimension."""


__all__ = [
    "Stm32DvfsError",
    "Stm32DvfsWarning",
    "ModelFormatError",
    "UnsupportedOperatorError",
    "DynamicShapeError",
    "InputMismatchError",
    "BoardDataError",
    "InfeasibleBudgetError",
    "SolverLimitError",
    "ResourceLimitError",
    "ToolchainError",
    "BoardLinkError",
]


def _register_with_tvm_ffi() -> None:
    """Keep the type of an error raised inside a TVM pass: without registration, tvm_ffi turns
    a Python exception crossing the FFI boundary into a plain RuntimeError."""
    import tvm_ffi

    for cls in [Stm32DvfsError, *Stm32DvfsError.__subclasses__()]:
        tvm_ffi.register_error(cls.__name__, cls)


_register_with_tvm_ffi()
