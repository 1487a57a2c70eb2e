"""docs/README.md's "Public interface" names what users type; every name it gives must resolve, and
every signature it gives must accept the arguments it shows."""

import importlib
import inspect
import re
from pathlib import Path

import pytest

import tvm_stm32dvfs

DOCS = Path(__file__).resolve().parents[1] / "docs" / "README.md"


def _interface() -> str:
    text = DOCS.read_text()
    section = text[text.index("## Public interface"):]
    end = section.find("\n## ", 1)
    return section if end < 0 else section[:end]


def _resolve(dotted: str):
    parts = dotted.split(".")
    obj = tvm_stm32dvfs
    for i, part in enumerate(parts[1:], 1):
        try:
            obj = getattr(obj, part)
        except AttributeError:  # a submodule not imported by its parent
            obj = importlib.import_module(".".join(parts[:i + 1]))
    return obj


def _documented_calls():
    """(dotted name, argument names) of every `tvm_stm32dvfs.x.y(args)` in the section."""
    for name, args in re.findall(r"`(tvm_stm32dvfs(?:\.\w+)+)\(([^)]*)\)", _interface()):
        yield name, [a.split("=")[0].strip() for a in args.split(",") if a.strip()]


@pytest.mark.parametrize("name,args", list(_documented_calls()))
def test_documented_call_exists_with_its_arguments(name, args):
    func = _resolve(name)
    assert callable(func), f"{name} is documented as a call but is {type(func).__name__}"
    params = inspect.signature(func).parameters
    for arg in args:
        assert arg in params, f"{name} documented with {arg!r}, signature is {list(params)}"


def test_compiled_model_methods_as_documented():
    for name, args in re.findall(r"`\.(\w+)\(([^)]*)\)`", _interface()):
        params = inspect.signature(getattr(tvm_stm32dvfs.CompiledModel, name)).parameters
        for arg in (a.split("=")[0].strip() for a in args.split(",") if a.strip()):
            assert arg in params, f"CompiledModel.{name} documented with {arg!r}"


def test_documented_names_exist():
    for name in re.findall(r"`(tvm_stm32dvfs(?:\.\w+)+)`", _interface()):
        _resolve(name)
