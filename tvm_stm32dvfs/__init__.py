"""tvm-stm32dvfs: deploy CNNs to STM32 microcontrollers for minimum energy per inference.

``import tvm_stm32dvfs`` registers the TVM target tags ``stm32dvfs`` and ``stm32dvfs-<board>``.
"""

from . import boards, errors
from ._version import __version__
from .driver import CompiledModel, build
from .sim.emulator import EmulatedRun, emulate
from .errors import Stm32DvfsError
from .frontend import from_onnx, from_tflite, load_model
from .project.run import BoardRun, run_on_board
from .boards.target import register_tags as _register_tags
from .dae.pipeline import register as _register_pipeline

TARGET_TAGS = _register_tags()
_register_pipeline()

__all__ = [
    "__version__", "build", "CompiledModel", "emulate", "EmulatedRun", "from_onnx", "from_tflite", "load_model", "quantize", "boards", "errors",
    "run_on_board", "BoardRun", "Stm32DvfsError", "TARGET_TAGS",
]


def __getattr__(name: str):
    # imported on first use: onnxruntime's quantiser is not needed to compile
    if name == "quantize":
        from .frontend.quantize import quantize

        return quantize
    raise AttributeError(f"module 'tvm_stm32dvfs' has no attribute {name!r}")
