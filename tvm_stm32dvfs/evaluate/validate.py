"""``validate``: the generated C against onnxruntime on random inputs.

The figures are those ST's ``stedgeai validate`` reports per output: maximum and mean absolute
error, cosine similarity and top-1 (argmax) agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.table import Table

from ..errors import ToolchainError


@dataclass(frozen=True)
class OutputReport:
    name: str
    max_abs_error: float
    mean_abs_error: float
    cosine: float
    argmax_agreement: float  # fraction of inputs whose argmax matches


@dataclass(frozen=True)
class ValidationReport:
    n_inputs: int
    outputs: tuple[OutputReport, ...]


def random_inputs(compiled, n: int, seed: int) -> list[dict[str, np.ndarray]]:
    """``n`` seeded standard-normal inputs of the model's shapes."""
    rng = np.random.default_rng(seed)
    return [
        {t.name: rng.standard_normal(t.shape).astype(t.dtype) for t in compiled.inputs} for _ in range(n)
    ]


def validate_against_onnxruntime(compiled, model_path: Path | str, n_inputs: int = 10, seed: int = 0,
                                 sanitize: bool = False) -> ValidationReport:
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - a pinned dependency
        raise ToolchainError("onnxruntime is not installed: pip install onnxruntime") from None
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    ort_names = [i.name for i in session.get_inputs()]
    ours: list[list[np.ndarray]] = []
    refs: list[list[np.ndarray]] = []
    for feed in random_inputs(compiled, n_inputs, seed):
        got = compiled.run_host(feed, sanitize=sanitize)
        ours.append(got if isinstance(got, list) else [got])
        # the compiled model's input names are C identifiers made from the ONNX names, in order
        refs.append(session.run(None, dict(zip(ort_names, feed.values()))))
    reports = []
    for k, out in enumerate(compiled.outputs):
        a = np.stack([o[k].astype(np.float64).reshape(-1) for o in ours])
        b = np.stack([r[k].astype(np.float64).reshape(-1) for r in refs])
        err = np.abs(a - b)
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        cos = np.where(norms > 0, np.sum(a * b, axis=1) / np.where(norms > 0, norms, 1), 1.0)
        agree = float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))
        reports.append(OutputReport(out.name, float(err.max()), float(err.mean()), float(cos.min()), agree))
    return ValidationReport(n_inputs, tuple(reports))


def validation_table(report: ValidationReport, title: str | None = None) -> Table:
    table = Table(title=title)
    for col in ("output", "max abs error", "mean abs error", "cosine (min)", f"argmax agreement (n={report.n_inputs})"):
        table.add_column(col, justify="right" if col != "output" else "left")
    for o in report.outputs:
        table.add_row(o.name, f"{o.max_abs_error:.3g}", f"{o.mean_abs_error:.3g}", f"{o.cosine:.6f}",
                      f"{o.argmax_agreement:.0%}")
    return table


@dataclass(frozen=True)
class EmulationReport:
    n_inputs: int
    identical: int  # inputs whose emulated outputs equal the host's bit for bit
    max_abs_difference: float
    instructions: int  # per inference (first input)


def validate_emulation(compiled, n_inputs: int = 10, seed: int = 0) -> EmulationReport:
    """The cross-compiled model in the emulator against the host build, input by input."""
    from .emulator import emulate

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
