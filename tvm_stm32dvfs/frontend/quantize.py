"""``quantize``: static int8 quantisation with onnxruntime's quantiser (QDQ format).

No quantiser of our own: onnxruntime's pre-processing (shape inference, BatchNormalization
folding, graph clean-up) and ``quantize_static`` with MinMax calibration, int8 activations
(asymmetric) and int8 symmetric weights, per channel by default — the conventions of TFLite
Micro and CMSIS-NN, which the int8 kernels implement.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np
import onnx

from ..errors import InputMismatchError, ModelFormatError, UnsupportedOperatorError
from .importer import ModelSource, load_onnx, resolve_input_shapes

Calibration = Union[np.ndarray, Sequence[np.ndarray], Mapping[str, np.ndarray], str, Path]


def _calibration_batches(model: onnx.ModelProto, data: Calibration) -> list[dict[str, np.ndarray]]:
    """One feed dict per calibration sample, checked against the model's inputs."""
    shapes = resolve_input_shapes(model, None)
    names = list(shapes)
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise InputMismatchError(f"{path}: no such calibration file (an .npz of input arrays)")
        try:
            with np.load(path) as npz:
                data = {k: npz[k] for k in npz.files}
        except Exception as exc:  # noqa: BLE001 - numpy raises several kinds for a bad file
            raise InputMismatchError(f"{path} is not a readable .npz ({type(exc).__name__})") from None
        if len(data) == 1 and len(names) == 1 and names[0] not in data:
            data = {names[0]: next(iter(data.values()))}
    if isinstance(data, Mapping):
        missing = [n for n in names if n not in data]
        if missing:
            raise InputMismatchError(f"calibration data lacks input(s) {', '.join(missing)}; the model's inputs: "
                                     f"{', '.join(names)}")
        stacked = {n: np.asarray(data[n]) for n in names}
    else:
        if len(names) != 1:
            raise InputMismatchError(f"the model has {len(names)} inputs: give calibration data as a dict by name")
        arrays = np.asarray(data) if isinstance(data, np.ndarray) else np.stack([np.asarray(a) for a in data])
        stacked = {names[0]: arrays}
    counts = set()
    for n in names:
        arr = stacked[n]
        expected = tuple(shapes[n])
        if arr.ndim == len(expected):  # a single sample
            arr = arr[None]
        if tuple(arr.shape[1:]) != expected:
            raise InputMismatchError(f"calibration samples of input '{n}' have shape {tuple(arr.shape[1:])}, "
                                     f"the model expects {expected}")
        if arr.dtype != np.float32:
            raise InputMismatchError(f"calibration data of input '{n}' is {arr.dtype}; give float32 samples")
        if len(arr) == 0:
            raise InputMismatchError(f"calibration data of input '{n}' is empty")
        stacked[n] = arr
        counts.add(len(arr))
    if len(counts) != 1:
        raise InputMismatchError("every input needs the same number of calibration samples")
    return [{n: stacked[n][i] for n in names} for i in range(counts.pop())]


def quantize(float_model: ModelSource, calibration_inputs: Calibration, per_channel: bool = True) -> onnx.ModelProto:
    """Quantize a float ONNX model to int8 QDQ with onnxruntime's static quantiser.

    ``calibration_inputs``: for a single-input model an array of samples ``(N, *input shape)``
    or a list of samples; a dict ``{input name: stacked samples}``; or a path to an ``.npz``.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = load_onnx(float_model)
    feeds = _calibration_batches(model, calibration_inputs)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory(prefix="stm32dvfs-quantize-") as tmp:
        src, pre, out = Path(tmp, "float.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        onnx.save(model, src)
        try:
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(out), _Reader(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})
        except (InputMismatchError, ModelFormatError):
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises many kinds
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UnsupportedOperatorError(f"onnxruntime's quantiser failed: {first}") from None
        return onnx.load(out)
