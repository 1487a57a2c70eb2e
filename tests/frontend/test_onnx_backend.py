"""The ONNX project's own backend test cases, for every operator type this release supports.

Cases come from the onnx wheel: the node test generators (``collect_testcases``) and the
pytorch-operator / pytorch-converted data folders. A case passes when the generated C (under
ASan/UBSan) reproduces the expected outputs with the case's tolerances; a case outside what the
release supports must fail with a one-line Stm32DvfsError, never a wrong answer or a crash.

Some cases feed operands that a static compiler needs as constants (Reshape's shape, Clip's
bounds) as run-time inputs. They are run as given (and must then fail clearly) and once more with
those operands frozen into initializers from the case's own data ("frozen" in the summary).
"""

from __future__ import annotations

import copy
import glob
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import tvm_stm32dvfs
from tvm_stm32dvfs.errors import Stm32DvfsError
from tvm_stm32dvfs.frontend.importer import _CONSTANT_INPUTS, SUPPORTED_OPS


@dataclass
class Case:
    name: str
    model: onnx.ModelProto
    data: list  # [(inputs, outputs)]
    rtol: float
    atol: float


def _node_cases() -> list[Case]:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    return [Case(c.name, c.model, list(c.data_sets), c.rtol, c.atol) for c in cases]


def _data_cases() -> list[Case]:
    root = Path(onnx.__file__).parent / "backend" / "test" / "data"
    out = []
    for folder in ("pytorch-operator", "pytorch-converted"):
        for d in sorted(glob.glob(str(root / folder / "test_*"))):
            model = onnx.load(os.path.join(d, "model.onnx"))
            data = []
            for ds in sorted(glob.glob(os.path.join(d, "test_data_set_*"))):
                def read(prefix):
                    files = sorted(glob.glob(os.path.join(ds, f"{prefix}_*.pb")), key=lambda p: int(p.rsplit("_", 1)[1][:-3]))
                    return [numpy_helper.to_array(onnx.TensorProto.FromString(Path(f).read_bytes())) for f in files]
                data.append((read("input"), read("output")))
            out.append(Case(f"{folder}/{Path(d).name}", model, data, 1e-3, 1e-7))
    return out


def _supported(case: Case) -> bool:
    return all(n.op_type in SUPPORTED_OPS for n in case.model.graph.node)


ALL_CASES = [c for c in _node_cases() + _data_cases() if _supported(c)]


def _freeze_constant_operands(case: Case) -> Case | None:
    """Turn run-time inputs used as Reshape shapes / Clip bounds into initializers."""
    names = {
        node.input[k]
        for node in case.model.graph.node
        for k in _CONSTANT_INPUTS.get(node.op_type, ())
        if k < len(node.input) and node.input[k]
    }
    graph_inputs = [i.name for i in case.model.graph.input]
    to_freeze = [n for n in names if n in graph_inputs]
    if not to_freeze:
        return None
    inputs, outputs = case.data[0]
    model = copy.deepcopy(case.model)
    keep = [i for i in model.graph.input if i.name not in to_freeze]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    for n in to_freeze:
        model.graph.initializer.append(numpy_helper.from_array(inputs[graph_inputs.index(n)], n))
    data = [([x for name, x in zip(graph_inputs, ins) if name not in to_freeze], outs) for ins, outs in case.data]
    return Case(case.name + "[frozen]", model, data, case.rtol, case.atol)


def run_case(case: Case) -> str:
    """'pass' or 'rejected: <message>'; raises AssertionError on a wrong answer."""
    try:
        mod, params = tvm_stm32dvfs.from_onnx(case.model)
        compiled = tvm_stm32dvfs.build(mod, params=params)
    except Stm32DvfsError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg, f"{case.name}: error message must be one line: {msg!r}"
        return f"rejected: {msg}"
    for inputs, outputs in case.data:
        feed = dict(zip([t.name for t in compiled.inputs], inputs))
        got = compiled.run_host(feed, sanitize=True)
        got = got if isinstance(got, list) else [got]
        assert len(got) == len(outputs), case.name
        for g, o in zip(got, outputs):
            assert g.shape == o.shape, f"{case.name}: shape {g.shape} != {o.shape}"
            np.testing.assert_allclose(g, o, rtol=case.rtol, atol=case.atol, equal_nan=True, err_msg=case.name)
    return "pass"


#: Reasons a case may be rejected: inputs outside this release's scope. A regression that starts
#: rejecting float32 cases for another reason fails here.
ALLOWED_REJECTIONS = ("element type", "training mode", "Indices output", "has no shape", "dynamic dimension",
                      "must be a constant", "zero-size dimension", "no inputs")


def _check_rejection(case: Case, outcome: str) -> None:
    assert any(a in outcome for a in ALLOWED_REJECTIONS), f"{case.name}: unexpected rejection: {outcome}"


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.name)
def test_onnx_backend_case(case):
    outcome = run_case(case)
    frozen = _freeze_constant_operands(case)
    if frozen is not None:
        assert outcome.startswith("rejected"), f"{case.name}: run-time shape operands must be rejected"
        _check_rejection(case, outcome)
        outcome = run_case(frozen)
    if outcome.startswith("rejected"):
        _check_rejection(case, outcome)


def test_case_inventory():
    """A summary for the closing note, and a floor so the selection cannot silently shrink."""
    kinds = Counter("node" if "/" not in c.name else c.name.split("/")[0] for c in ALL_CASES)
    print(f"\nONNX backend cases with supported op types: {len(ALL_CASES)} {dict(kinds)}")
    assert len(ALL_CASES) >= 150
