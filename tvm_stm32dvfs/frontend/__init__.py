"""Frontend: ONNX in, a validated Relax IRModule with static shapes out."""

from .importer import SUPPORTED_OPS, from_onnx, load_model, load_onnx, param_keys, resolve_input_shapes, validate_model

__all__ = ["SUPPORTED_OPS", "from_onnx", "load_model", "load_onnx", "param_keys", "resolve_input_shapes", "validate_model"]
