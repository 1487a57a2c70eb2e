"""Frontend: read and validate an ONNX model, then import it into Relax.

Everything a user can get wrong is caught here, before TVM sees the model, and reported in one
line: a file that is not ONNX, every unsupported operator at once (with node names and the list
of what is supported), dynamic shapes (with the ``shape=`` fix), unsupported data types.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np
import onnx
import tvm
from onnx import TensorProto

from ..errors import DynamicShapeError, ModelFormatError, Stm32DvfsWarning, UnsupportedOperatorError

#: ONNX operators (default domain) this release compiles, with float32 tensors.
SUPPORTED_OPS = frozenset(
    {
        "Add",
        "AveragePool",
        "BatchNormalization",
        "Clip",
        "Concat",
        "Constant",
        "Conv",
        "Flatten",
        "Gemm",
        "GlobalAveragePool",
        "Identity",
        "MatMul",
        "MaxPool",
        "Mul",
        "ReduceMean",
        "Relu",
        "Reshape",
        "Softmax",
        "Transpose",
    }
)

#: Inputs that must be compile-time constants (initializers or Constant nodes), by op and index.
_CONSTANT_INPUTS = {"Reshape": (1,), "Clip": (1, 2)}

#: Element types of activations and weights this release compiles.
SUPPORTED_DTYPES = {TensorProto.FLOAT: "float32"}

#: Types allowed for the constant shape/axes operands of _CONSTANT_INPUTS.
_INDEX_DTYPES = {TensorProto.INT64, TensorProto.INT32}

ModelSource = Union[str, Path, onnx.ModelProto]


def load_onnx(source: ModelSource) -> onnx.ModelProto:
    """Read an ONNX model from a path (or pass a ModelProto through), checking that it is one."""
    if isinstance(source, onnx.ModelProto):
        model = source
        where = "the ModelProto"
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ModelFormatError(f"{path}: no such model file")
        data = path.read_bytes()
        try:
            model = onnx.ModelProto.FromString(data)
        except Exception as exc:  # protobuf raises DecodeError and friends
            raise ModelFormatError(
                f"{path} is not a readable ONNX model ({type(exc).__name__}); the file is corrupt, "
                "truncated or of another format: re-export it from your framework"
            ) from None
        if not model.graph.node and not model.graph.output:
            raise ModelFormatError(
                f"{path} is not an ONNX model (no graph in the file): re-export it from your framework"
            )
        _load_external_data(model, path)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(f"{where} is not a valid ONNX model: {first}") from None
    return model


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Weights stored beside the model (PyTorch's dynamo exporter writes ``model.onnx.data``),
    read into it, so that the model is whole in memory."""
    from onnx.external_data_helper import uses_external_data

    external = [t for t in model.graph.initializer if uses_external_data(t)]
    if not external:
        return
    files = sorted({next((e.value for e in t.external_data if e.key == "location"), "?") for t in external})
    try:
        onnx.load_external_data_for_model(model, str(path.parent))
    except Exception as exc:
        raise ModelFormatError(
            f"{path}: its weights are stored in {', '.join(files)} beside it, which could not be read "
            f"({type(exc).__name__}): keep that file next to the model"
        ) from None


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def resolve_input_shapes(
    model: onnx.ModelProto, shape: Mapping[str, Sequence[int]] | Sequence[int] | None
) -> dict[str, list[int]]:
    """Static shape of every graph input, from the model or from ``shape`` (which wins)."""
    inputs = _graph_inputs(model)
    if not inputs:
        raise UnsupportedOperatorError(
            "the model has no inputs: its outputs are constants, there is nothing to compute per inference"
        )
    names = [i.name for i in inputs]
    if shape is not None and not isinstance(shape, Mapping):
        if len(inputs) != 1:
            raise DynamicShapeError(
                f"shape= given as a list, but the model has {len(inputs)} inputs ({', '.join(names)}): "
                "pass a dict {input name: shape}"
            )
        shape = {names[0]: list(shape)}
    shape = dict(shape or {})
    if "" in shape and len(inputs) == 1:
        shape[names[0]] = shape.pop("")
    for k in shape:
        if k not in names:
            raise DynamicShapeError(f"shape given for '{k}', which is not an input (inputs: {', '.join(names)})")
    result: dict[str, list[int]] = {}
    for inp in inputs:
        ttype = inp.type.tensor_type
        if inp.name in shape:
            dims = [int(d) for d in shape[inp.name]]
            if any(d <= 0 for d in dims):
                raise DynamicShapeError(f"shape of input '{inp.name}' must be positive, got {dims}")
            if ttype.HasField("shape") and len(ttype.shape.dim) != len(dims):
                raise DynamicShapeError(
                    f"shape of input '{inp.name}' has rank {len(dims)}, the model says {len(ttype.shape.dim)}"
                )
            for d, given in zip(ttype.shape.dim if ttype.HasField("shape") else [], dims):
                if d.HasField("dim_value") and d.dim_value != given:
                    raise DynamicShapeError(
                        f"shape of input '{inp.name}': dimension {d.dim_value} is fixed by the model, got {given}"
                    )
            result[inp.name] = dims
            continue
        if not ttype.HasField("shape"):
            raise DynamicShapeError(
                f"input '{inp.name}' has no shape; give it with shape={{'{inp.name}': [...]}} "
                f"or --shape {inp.name}:1x3x32x32"
            )
        dims = []
        for axis, d in enumerate(ttype.shape.dim):
            if axis == 0 and not d.HasField("dim_value") and len(ttype.shape.dim) > 1:
                # a converter's dynamic batch (tf2onnx writes 'unk__N', PyTorch 'batch_size')
                warnings.warn(
                    f"input '{inp.name}' has a dynamic batch dimension '{d.dim_param or '?'}': compiled for "
                    f"batch 1 (shape={{'{inp.name}': [...]}} or --shape {inp.name}:... for another)",
                    Stm32DvfsWarning, stacklevel=3)
                dims.append(1)
                continue
            if d.HasField("dim_value") and d.dim_value == 0:
                raise UnsupportedOperatorError(
                    f"input '{inp.name}' has a zero-size dimension: empty tensors are not supported"
                )
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            else:
                sym = d.dim_param or "?"
                raise DynamicShapeError(
                    f"input '{inp.name}' has a dynamic dimension '{sym}'; give a static shape with "
                    f"shape={{'{inp.name}': [...]}} or --shape {inp.name}:1x3x32x32"
                )
        result[inp.name] = dims
    return result


def _node_label(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"#{index} ({', '.join(node.output)})"


def validate_model(model: onnx.ModelProto) -> None:
    """Reject, in one error, everything this release cannot compile exactly."""
    from .qdq import QDQ_OPS, is_qdq_model

    quantized = is_qdq_model(model)
    supported = SUPPORTED_OPS | QDQ_OPS if quantized else SUPPORTED_OPS
    problems: list[str] = []
    unsupported: dict[str, list[str]] = {}
    constants = {i.name for i in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    for i, node in enumerate(model.graph.node):
        label = _node_label(node, i)
        if node.domain not in ("", "ai.onnx") or node.op_type not in supported:
            key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            unsupported.setdefault(key, []).append(label)
            continue
        for k in _CONSTANT_INPUTS.get(node.op_type, ()):
            if k < len(node.input) and node.input[k] and node.input[k] not in constants:
                problems.append(
                    f"{node.op_type} node '{label}': input '{node.input[k]}' must be a constant "
                    "(an initializer), not a run-time tensor"
                )
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "MaxPool" and len([o for o in node.output if o]) > 1:
            problems.append(f"MaxPool node '{label}': the Indices output is not supported")
        if node.op_type == "BatchNormalization" and (attrs.get("training_mode", 0) or len(node.output) > 1):
            problems.append(f"BatchNormalization node '{label}': training mode is not supported")
    if unsupported:
        listed = "; ".join(
            f"{op} (node{'s' if len(v) > 1 else ''} {', '.join(repr(x) for x in v[:3])}{', ...' if len(v) > 3 else ''})"
            for op, v in sorted(unsupported.items())
        )
        raise UnsupportedOperatorError(
            f"unsupported operator{'s' if len(unsupported) > 1 else ''}: {listed}. "
            f"Supported: {', '.join(sorted(supported))}"
        )
    if problems:
        raise UnsupportedOperatorError("; ".join(problems))
    if not quantized:  # the QDQ importer checks the types of every quantized chain itself
        _validate_dtypes(model)


def _validate_dtypes(model: onnx.ModelProto) -> None:
    index_operands = {
        node.input[k]
        for node in model.graph.node
        for k in _CONSTANT_INPUTS.get(node.op_type, ())
        if k < len(node.input) and node.op_type == "Reshape"
    }
    for inp in _graph_inputs(model):
        et = inp.type.tensor_type.elem_type
        if et not in SUPPORTED_DTYPES:
            raise UnsupportedOperatorError(
                f"input '{inp.name}' has element type {TensorProto.DataType.Name(et)}; "
                "this release compiles float32 models"
            )
    for init in model.graph.initializer:
        if init.data_type in SUPPORTED_DTYPES:
            continue
        if init.name in index_operands and init.data_type in _INDEX_DTYPES:
            continue
        raise UnsupportedOperatorError(
            f"initializer '{init.name}' has element type {TensorProto.DataType.Name(init.data_type)}; "
            "this release compiles float32 models"
        )


def from_onnx(
    source: ModelSource, shape: Mapping[str, Sequence[int]] | Sequence[int] | None = None
) -> tuple[tvm.IRModule, dict[str, np.ndarray]]:
    """Import an ONNX model as a Relax IRModule with static shapes.

    Returns ``(mod, params)``: the weights are returned separately (like the old
    ``relay.frontend.from_onnx``) and bound again by :func:`tvm_stm32dvfs.build`.
    """
    model = load_onnx(source)
    from .qlinear import is_qoperator_model, qoperator_to_qdq

    if is_qoperator_model(model):  # onnxruntime's QOperator format: the same model as QDQ
        model = qoperator_to_qdq(model)
    shapes = resolve_input_shapes(model, shape)
    validate_model(model)
    from .qdq import import_qdq, is_qdq_model

    if is_qdq_model(model):
        return import_qdq(model, shapes), {}
    import tvm.relax.frontend.onnx as relax_onnx  # must be imported explicitly in TVM 0.27
    from tvm import relax

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    try:
        mod = relax_onnx.from_onnx(model, shape_dict=shapes, opset=opset, keep_params_in_input=True)
    except Exception as exc:  # the frontend raises many kinds; none of them is a crash of ours
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsupportedOperatorError(f"TVM's ONNX importer rejected the model: {first}") from None
    mod, params = relax.frontend.detach_params(mod)
    values = params.get("main", [])
    keys = param_keys(mod["main"])
    return mod, {k: v.numpy() for k, v in zip(keys[len(keys) - len(values):], values)}


def param_keys(main) -> list[str]:
    """Unique keys of ``main``'s parameters: the name, with ``#k`` on the k-th repeat.

    The importer sanitises ONNX names, so two parameters can end up with one name ("1");
    the params dict of :func:`from_onnx` and :func:`tvm_stm32dvfs.build` use these keys.
    """
    seen: dict[str, int] = {}
    keys = []
    for p in main.params:
        name = p.name_hint if hasattr(p, "name_hint") else p.name
        k = seen.get(name, 0)
        seen[name] = k + 1
        keys.append(name if k == 0 else f"{name}#{k}")
    return keys


def load_model(
    path: Union[str, Path], shape: Mapping[str, Sequence[int]] | Sequence[int] | None = None
) -> tuple[tvm.IRModule, dict[str, np.ndarray]]:
    """``(mod, params)`` of a model file, by its format: ONNX (``.onnx``) or int8 TensorFlow Lite
    (``.tflite``, :func:`~tvm_stm32dvfs.frontend.tflite.from_tflite`)."""
    path = Path(path)
    if path.suffix.lower() == ".tflite":
        from .tflite import from_tflite

        return from_tflite(path, shape=shape)
    return from_onnx(path, shape=shape)
