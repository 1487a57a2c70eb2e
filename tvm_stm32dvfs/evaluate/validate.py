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
