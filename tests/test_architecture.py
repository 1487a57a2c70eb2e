"""The package is layered in the order of the data flow (DESIGN.md): no module imports a module of
a later stage, or the package root. The imports are read from the source (ast), every
``from``/``import`` of the package, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tvm_stm32dvfs"

#: shared by every stage: they import no stage
SHARED = ("errors", "vocabulary", "_version", "resources", "csources", "files")
#: the stages in the order of the data flow: module (or package) prefixes
STAGES = (
    ("frontend",),
    ("lower",),
    ("dae",),
    ("boards",),
    ("sim",),
    ("profile",),
    ("optimize",),
    ("codegen",),
    ("project",),
    ("evaluate", "models"),
    # on top: the passes gathered for users, the driver and the command line
    ("transform", "driver", "cli"),
)


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> int:
    """Index in STAGES of a module name relative to the package (-1: shared); the longest prefix
    wins, so a module may sit in a later stage than its package."""
    if module.split(".")[0] in SHARED:
        return -1
    best, length = None, -1
    for index, prefixes in enumerate(STAGES):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = index, len(prefix)
    if best is None:
        raise AssertionError(f"tvm_stm32dvfs.{module} is in no stage of tests/test_architecture.py")
    return best


def imports_of(path: Path) -> set[str]:
    """The package modules ``path`` imports (names relative to the package; "" is the root)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("tvm_stm32dvfs"):
                target = node.module.removeprefix("tvm_stm32dvfs").lstrip(".")
            else:
                continue
            if node.module is None:  # from . import x: x is a module of that package, or a name of it
                for a in node.names:
                    sub = PACKAGE.joinpath(*[p for p in target.split(".") if p], a.name)
                    is_module = sub.with_suffix(".py").exists() or (sub / "__init__.py").exists()
                    found.add(f"{target}.{a.name}".lstrip(".") if is_module else target)
            else:
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("tvm_stm32dvfs").lstrip(".") for a in node.names
                         if a.name.startswith("tvm_stm32dvfs"))
    return found


def back_edges() -> list[tuple[str, str]]:
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module(path)
        if module == "":
            continue  # the root imports the public interface of every stage
        mine = stage_of(module)
        for target in sorted(imports_of(path)):
            if target == "":
                edges.append((module, "tvm_stm32dvfs (the package root)"))
            elif stage_of(target) > mine or (mine == -1 and stage_of(target) != -1):
                edges.append((module, target))
    return edges


def test_no_module_imports_a_later_stage_or_the_root():
    assert back_edges() == []


def test_the_walk_sees_a_back_edge(tmp_path, monkeypatch):
    """The check itself can fail: a stage module importing a later one, or the root, is reported."""
    fake = tmp_path / "tvm_stm32dvfs"
    (fake / "boards").mkdir(parents=True)
    (fake / "boards" / "__init__.py").write_text("from ..profile import profile\n\n\ndef f():\n    from .. import build\n")
    (fake / "profile.py").write_text("from .errors import Stm32DvfsError\n")
    (fake / "errors.py").write_text("")
    (fake / "__init__.py").write_text("from .boards import f\n")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    assert back_edges() == [("boards", "tvm_stm32dvfs (the package root)"), ("boards", "profile")]
