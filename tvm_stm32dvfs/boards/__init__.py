"""STM32 boards: data files with cited sources, clock-tree explorer, power and transition models.

``load(name_or_path)`` -> :class:`Board`; ``board.dvfs_states()`` -> list of :class:`ClockState`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Union

from ..errors import BoardDataError
from .board import Board
from .clocktree import ClockState
from .model import DATA_DIR, BoardData, parse_board
from .transitions import Transition

DEFAULT_BOARD = "stm32f746g-disco"


def known_boards() -> list[str]:
    """Names of the bundled boards, sorted."""
    return sorted(p.stem for p in DATA_DIR.glob("*.toml"))


@lru_cache(maxsize=None)
def _load_path(path: Path) -> Board:
    return Board(parse_board(path))


def load(name_or_path: Union[str, Path]) -> Board:
    """A bundled board by name, or a board file (``*.toml``) of your own."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml"):
        path = Path(text).resolve()
        if not path.is_file():
            raise BoardDataError(f"{text}: no such board file")
        return _load_path(path)
    if text not in known_boards():
        raise BoardDataError(f"unknown board '{text}'; known boards: {', '.join(known_boards())} "
                             "(or pass --board-file with your own TOML)")
    board = _load_path(DATA_DIR / f"{text}.toml")
    if board.name != text:
        raise BoardDataError(f"{text}.toml: field 'name' is '{board.name}', expected '{text}'")
    return board


__all__ = ["Board", "BoardData", "BoardDataError", "ClockState", "DEFAULT_BOARD", "Transition", "known_boards", "load"]
