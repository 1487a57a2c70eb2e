"""``CSources``: the C a model compiles to, as codegen emits it and the host build, the
emulator and the project read it (shared by those stages, so it depends on none of them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CSources:
    """The generated C of one model: file name -> text (plus the runtime headers it includes)."""

    files: dict[str, str]

    def write(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in sorted(self.files.items()):
            path = directory / name
            path.write_text(text)
            written.append(path)
        return written

    @property
    def c_files(self) -> list[str]:
        return sorted(n for n in self.files if n.endswith(".c"))

    @property
    def lines(self) -> int:
        return sum(t.count("\n") for t in self.files.values())
