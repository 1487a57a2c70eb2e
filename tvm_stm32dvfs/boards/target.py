"""TVM target tags: ``stm32dvfs`` (the default board) and ``stm32dvfs-<board>``.

A new target *kind* cannot be registered from Python in TVM 0.27, so the tags are of kind "c"
with the board's core as ``mcpu`` and the board's name as ``model``.
"""

from __future__ import annotations

from typing import Union

import tvm

from .. import boards
from ..errors import BoardDataError

TAG_PREFIX = "stm32dvfs"


def _tag_config(name: str, board: "boards.Board") -> dict:
    return {
        "kind": "c",
        "mcpu": board.core,
        "keys": ["arm_cpu", "cpu"],
        "model": board.name,
        "tag": name,
    }


def register_tags() -> list[str]:
    """Register one tag per known board plus the default tag; returns the tag names."""
    names = []
    for board_name in boards.known_boards():
        board = boards.load(board_name)
        tag = f"{TAG_PREFIX}-{board_name}"
        tvm.target.tag.register_tag(tag, _tag_config(tag, board), override=True)
        names.append(tag)
    default = boards.load(boards.DEFAULT_BOARD)
    tvm.target.tag.register_tag(TAG_PREFIX, _tag_config(TAG_PREFIX, default), override=True)
    return [TAG_PREFIX, *names]


def board_of_target(target: Union[str, tvm.target.Target]) -> str:
    """The board name a target designates; an unknown board is a clear error listing the known."""
    known = boards.known_boards()
    if isinstance(target, tvm.target.Target):
        model = str(target.attrs.get("model", "")) if target.attrs is not None else ""
        if model in known:
            return model
        raise BoardDataError(
            f"target {target} names no known board (model='{model}'); known boards: {', '.join(known)}"
        )
    name = str(target).strip()
    if name == TAG_PREFIX:
        return boards.DEFAULT_BOARD
    if name.startswith(TAG_PREFIX + "-") and name[len(TAG_PREFIX) + 1 :] in known:
        return name[len(TAG_PREFIX) + 1 :]
    raise BoardDataError(
        f"unknown target '{name}': use 'stm32dvfs' or 'stm32dvfs-<board>' with a board among "
        f"{', '.join(known)}"
    )
