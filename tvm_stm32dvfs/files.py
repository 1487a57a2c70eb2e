"""Writing a file whole or not at all: every file the package writes for a user or a cache goes
through here, so an interrupted run or two concurrent ones never leave a half-written file."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_text_atomically(path, text: str) -> Path:
    """Write ``text`` to ``path`` (its folder created): into a uniquely named temporary sibling
    first, then renamed over ``path``, which is atomic on one file system."""
    return write_bytes_atomically(path, text.encode())


def write_bytes_atomically(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` as :func:`write_text_atomically` writes text."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's file is private; the result is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_tree_atomically(files: dict[str, str], directory: Path) -> list[Path]:
    """Write ``files`` under ``directory``: all of them or none (a sibling temporary folder is
    filled first and moved into place)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        for name, text in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        directory.mkdir(exist_ok=True)
        written = []
        for name in sorted(files):
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).replace(target)
            written.append(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written
