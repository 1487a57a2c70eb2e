"""Frontend: ONNX or TensorFlow Lite in, a validated Relax IRModule with static shapes out."""

from .importer import SUPPORTED_OPS, from_onnx, load_model, load_onnx, param_keys, resolve_input_shapes, validate_model

__all__ = ["SUPPORTED_OPS", "from_onnx", "from_tflite", "load_model", "load_onnx", "param_keys", "resolve_input_shapes", "validate_model"]


def from_tflite(source, shape=None):
    """See :func:`tvm_stm32dvfs.frontend.tflite.from_tflite` (imported on first use: the
    ``tflite`` schema package is not needed for ONNX models)."""
    from .tflite import from_tflite as _from_tflite

    return _from_tflite(source, shape=shape)
