"""``validate``: the generated C against the model's exact semantics, and against the runtime
users compare with.

Inputs span what the model accepts: an int8 input is drawn uniformly over all 256 values, a float
input that the model quantizes uniformly over its quantizer's range (one LSB beyond each end,
so saturation is exercised), another float input standard-normal; or real inputs from an .npz.

For ONNX, the reference is the model's exact semantics: ONNX's own reference evaluator in
float64, every float constant widened, so a QDQ model's dequantize, operator and quantize round
only where ONNX says so — the semantics the int8 kernels compute. The quantization of a float
graph input stays in float32, as ONNX defines it for a float32 input. onnxruntime evaluates the
same model in float32 and can round a value near a tie the other way (then a residual add, a
dense layer or the softmax carries the difference on); its distance is reported beside the exact
one. For TensorFlow Lite, the reference is the interpreter's reference kernels (ai-edge-litert,
``OpResolverType.BUILTIN_REF``), whose integer rules the kernels of a .tflite model follow
(frontend/tflite.py); beside them, its default kernels. The figures per output are those ST's
``stedgeai validate`` reports: maximum and mean absolute error, cosine similarity and top-1
(argmax) agreement, and here the share of identical values.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from rich.table import Table

from ..errors import InputMismatchError, ModelFormatError, ToolchainError
from ..frontend.importer import _graph_inputs


@dataclass(frozen=True)
class Distance:
    """How far the generated C's output is from one reference, over every input."""

    max_abs_error: float
    mean_abs_error: float
    identical: float  # share of output values equal to the reference
    cosine: float  # smallest over the inputs
    argmax_agreement: float  # share of inputs whose argmax matches


@dataclass(frozen=True)
class OutputReport:
    name: str
    exact: Distance  # against the model's exact semantics (the kernels' specification)
    other: Distance  # against the runtime users compare with (onnxruntime, TFLite's default kernels)


@dataclass(frozen=True)
class ValidationReport:
    n_inputs: int
    inputs: str  # where the inputs come from
    outputs: tuple[OutputReport, ...]
    labels: tuple[str, str] = ("exact", "onnxruntime")  # the two references
    caption: str = ""

    @property
    def bit_exact(self) -> bool:
        return all(o.exact.identical == 1.0 for o in self.outputs)


def _input_quantizers(model) -> dict[str, tuple[float, int]]:
    """Scale and zero point of the int8 QuantizeLinear that reads each float graph input."""
    from onnx import numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    graph_inputs = {i.name for i in model.graph.input}
    found: dict[str, tuple[float, int]] = {}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] in graph_inputs:
            scale = consts.get(node.input[1])
            zp = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros((), np.uint8)
            if scale is not None and zp is not None and scale.size == 1 and zp.dtype == np.int8:
                found[node.input[0]] = (float(scale.reshape(-1)[0]), int(zp.reshape(-1)[0]))
    return found


@dataclass(frozen=True)
class SourceModel:
    """What validation needs of the model file: its input and output names, the quantizer of
    each float input, and its two references (a feed by input name -> the outputs)."""

    input_names: list[str]
    output_names: list[str]
    quantizers: dict[str, tuple[float, int]]
    exact: object
    other: object
    labels: tuple[str, str]
    caption: str


def source_model(model_path: Path | str) -> SourceModel:
    """The references of an ONNX or TensorFlow Lite file (see the module docstring)."""
    path = Path(model_path)
    if path.suffix.lower() == ".tflite":
        return _tflite_source(path)
    import onnx

    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - a pinned dependency
        raise ToolchainError("onnxruntime is not installed: pip install onnxruntime") from None
    model = onnx.load(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exact = exact_reference(model)
    outputs = [o.name for o in model.graph.output]
    return SourceModel([i.name for i in _graph_inputs(model)], outputs, _input_quantizers(model),
                       lambda feed: exact.run(outputs, feed), lambda feed: session.run(None, feed),
                       ("exact", "onnxruntime"),
                       "exact: the model in float64 (ONNX reference evaluator), the semantics the kernels compute")


def _tflite_source(path: Path) -> SourceModel:
    """A .tflite file: the exact semantics are the interpreter's reference kernels
    (ai-edge-litert, OpResolverType.BUILTIN_REF); beside them its default, optimised kernels."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # pragma: no cover - a pinned dependency
        raise ToolchainError("ai-edge-litert is not installed: pip install ai-edge-litert") from None

    def runner(resolver):
        interpreter = Interpreter(model_path=str(path), experimental_op_resolver_type=resolver)
        interpreter.allocate_tensors()
        ins, outs = interpreter.get_input_details(), interpreter.get_output_details()

        def run(feed):
            for d in ins:
                interpreter.set_tensor(d["index"], feed[d["name"]])
            interpreter.invoke()
            return [interpreter.get_tensor(d["index"]) for d in outs]

        return run, [d["name"] for d in ins], [d["name"] for d in outs]

    reference, inputs, outputs = runner(OpResolverType.BUILTIN_REF)
    default, _, _ = runner(OpResolverType.BUILTIN)
    return SourceModel(inputs, outputs, {}, reference, default, ("TFLite reference", "TFLite builtin"),
                       "TFLite reference: the interpreter's reference kernels (ai-edge-litert), the semantics the "
                       "kernels compute; builtin: its default, optimised kernels")


def full_range_inputs(compiled, source: SourceModel, n: int, seed: int) -> list[dict[str, np.ndarray]]:
    """``n`` seeded inputs over the whole range the model accepts (see the module docstring)."""
    return random_inputs(compiled, n, seed, [source.quantizers.get(name) for name in source.input_names])


def random_inputs(compiled, n: int, seed: int, quantizers: Sequence[tuple[float, int] | None] = ()
                  ) -> list[dict[str, np.ndarray]]:
    """``n`` seeded inputs of the model's shapes: int8 uniform over its range; a float input with
    a quantizer (scale, zero point; by input position) uniform over the range it maps to, +-1 LSB;
    any other float input standard-normal."""
    rng = np.random.default_rng(seed)
    quantizers = list(quantizers) + [None] * (len(compiled.inputs) - len(quantizers))
    feeds = []
    for _ in range(n):
        feed = {}
        for t, quantizer in zip(compiled.inputs, quantizers):
            if t.dtype == "int8":
                feed[t.name] = rng.integers(-128, 128, size=t.shape, dtype=np.int8)
            elif quantizer is not None:
                scale, zp = quantizer
                feed[t.name] = rng.uniform((-129 - zp) * scale, (128 - zp) * scale, size=t.shape).astype(t.dtype)
            else:
                feed[t.name] = rng.standard_normal(t.shape).astype(t.dtype)
        feeds.append(feed)
    return feeds


def inputs_from_file(compiled, source: SourceModel, path: Path | str) -> list[dict[str, np.ndarray]]:
    """Inputs from an .npz: one array per model input, by its ONNX name (any name for a model of
    one input), of the input's shape, or with a leading axis of samples (for a batch-1 model, the
    batch axis may hold them)."""
    path = Path(path)
    try:
        data = np.load(path)
        arrays = {k: data[k] for k in data.files}
    except Exception as exc:
        raise ModelFormatError(f"{path} is not a readable .npz of inputs ({type(exc).__name__}): write it with "
                               "numpy.savez(path, input_name=array)") from None
    onnx_names = source.input_names
    if len(onnx_names) == 1 and len(arrays) == 1:
        arrays = {onnx_names[0]: next(iter(arrays.values()))}
    missing = [n for n in onnx_names if n not in arrays]
    if missing:
        raise InputMismatchError(f"{path} has no array for input{'s' if len(missing) > 1 else ''} "
                                 f"{', '.join(repr(m) for m in missing)} (it has {', '.join(sorted(arrays)) or 'none'})")
    samples = None
    per_input = {}
    for onnx_name, t in zip(onnx_names, compiled.inputs):
        a = arrays[onnx_name]
        if tuple(a.shape) == tuple(t.shape):
            a = a[None]
        elif t.shape and t.shape[0] == 1 and tuple(a.shape[1:]) == tuple(t.shape[1:]):
            a = a[:, None]  # samples along the batch axis of a batch-1 model
        if tuple(a.shape[1:]) != tuple(t.shape):
            raise InputMismatchError(f"{path}: '{onnx_name}' has shape {tuple(a.shape)}; the model takes "
                                     f"{tuple(t.shape)} (or N x that for N samples)")
        if a.dtype != np.dtype(t.dtype):
            raise InputMismatchError(f"{path}: '{onnx_name}' is {a.dtype}; the model takes {t.dtype}")
        if samples is not None and len(a) != samples:
            raise InputMismatchError(f"{path}: the inputs have different numbers of samples")
        samples = len(a)
        per_input[t.name] = a
    return [{k: v[i] for k, v in per_input.items()} for i in range(samples or 0)]


def exact_reference(model):
    """ONNX's reference evaluator on the model widened to float64 (see the module docstring)."""
    import onnx
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    wide = onnx.ModelProto()
    wide.CopyFrom(model)
    graph_inputs = {i.name for i in wide.graph.input}
    kept: dict[str, str] = {}
    for node in wide.graph.node:  # the input's own quantization stays float32
        if node.op_type == "QuantizeLinear" and node.input[0] in graph_inputs:
            scale = node.input[1]
            kept.setdefault(scale, f"{scale}__float32")
            node.input[1] = kept[scale]
    for init in list(wide.graph.initializer):
        if init.name in kept:
            copy = numpy_helper.from_array(numpy_helper.to_array(init), kept[init.name])
            wide.graph.initializer.append(copy)
    for init in wide.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT and not init.name.endswith("__float32"):
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float64), init.name))
    for node in wide.graph.node:  # Constant nodes hold floats too
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.data_type == onnx.TensorProto.FLOAT:
                    a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float64), a.t.name))
    for opset in wide.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = max(opset.version, 21)  # the first opset whose reference Q/DQ exists
    del wide.graph.value_info[:]
    return ReferenceEvaluator(wide)


def _distance(ours: list[np.ndarray], ref: list[np.ndarray]) -> Distance:
    a = np.stack([o.astype(np.float64).reshape(-1) for o in ours])
    b = np.stack([r.astype(np.float64).reshape(-1) for r in ref])
    err = np.abs(a - b)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = np.where(norms > 0, np.sum(a * b, axis=1) / np.where(norms > 0, norms, 1), 1.0)
    agree = float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))
    return Distance(float(err.max()), float(err.mean()), float(np.mean(err == 0)), float(cos.min()), agree)


def validate(compiled, model_path: Path | str, n_inputs: int = 10, seed: int = 0,
             inputs_file: Path | str | None = None, sanitize: bool = False, progress=None) -> ValidationReport:
    """The host build of ``compiled`` against the exact semantics of ``model_path`` (ONNX: float64
    reference evaluator; TFLite: the interpreter's reference kernels) and the runtime beside it."""
    source = source_model(model_path)
    if inputs_file is not None:
        feeds = inputs_from_file(compiled, source, inputs_file)
        where = f"{Path(inputs_file).name} ({len(feeds)} samples)"
    else:
        feeds = full_range_inputs(compiled, source, n_inputs, seed)
        where = f"{n_inputs} full-range random inputs (seed {seed})"
    ours, by_other, by_exact = [], [], []
    for k, feed in enumerate(feeds):
        got = compiled.run_host(feed, sanitize=sanitize)
        ours.append(got if isinstance(got, list) else [got])
        named = dict(zip(source.input_names, feed.values()))  # the C names follow the model's inputs in order
        by_other.append(source.other(named))
        by_exact.append(source.exact(named))
        if progress is not None:
            progress(k + 1, len(feeds))
    reports = []
    for k, out in enumerate(source.output_names):
        reports.append(OutputReport(out, _distance([o[k] for o in ours], [r[k] for r in by_exact]),
                                    _distance([o[k] for o in ours], [r[k] for r in by_other])))
    return ValidationReport(len(feeds), where, tuple(reports), source.labels, source.caption)


def validation_table(report: ValidationReport, title: str | None = None) -> Table:
    table = Table(title=title, caption=f"inputs: {report.inputs}; {report.caption}")
    columns = ("output", "reference", "identical", "max abs error", "mean abs error", "cosine (min)",
               "argmax agreement")
    for col in columns:
        table.add_column(col, justify="left" if col in ("output", "reference") else "right")
    for o in report.outputs:
        for label, d in zip(report.labels, (o.exact, o.other)):
            table.add_row(o.name if d is o.exact else "", label, f"{d.identical:.1%}", f"{d.max_abs_error:.3g}",
                          f"{d.mean_abs_error:.3g}", f"{d.cosine:.6f}", f"{d.argmax_agreement:.0%}")
    return table


@dataclass(frozen=True)
class EmulationReport:
    n_inputs: int
    identical: int  # inputs whose emulated outputs equal the host's bit for bit
    max_abs_difference: float
    instructions: int  # per inference (first input)


def validate_emulation(compiled, n_inputs: int = 10, seed: int = 0) -> EmulationReport:
    """The cross-compiled model in the emulator against the host build, input by input."""
    from ..sim.emulator import emulate

    identical, worst, instructions = 0, 0.0, 0
    for k, feed in enumerate(random_inputs(compiled, n_inputs, seed)):
        run = emulate(compiled, feed)
        host = compiled.run_host(feed)
        ours = run.outputs if isinstance(run.outputs, list) else [run.outputs]
        ref = host if isinstance(host, list) else [host]
        same = all(np.array_equal(a, b) for a, b in zip(ours, ref))
        identical += int(same)
        worst = max([worst] + [float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(ours, ref)])
        if k == 0:
            instructions = run.instructions
    return EmulationReport(n_inputs, identical, worst, instructions)


def emulation_table(report: EmulationReport, title: str | None = None) -> Table:
    table = Table(title=title)
    for col in ("inputs", "bit-exact", "max abs difference", "instructions / inference"):
        table.add_column(col, justify="right")
    table.add_row(str(report.n_inputs), f"{report.identical}/{report.n_inputs}", f"{report.max_abs_difference:.3g}",
                  f"{report.instructions:,}")
    return table
