"""Evaluation: host runs of the generated C and validation against onnxruntime."""
