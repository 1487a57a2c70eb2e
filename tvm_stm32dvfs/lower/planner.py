"""Static memory planning of the activation arena.

The interface follows TFLite Micro's ``MicroMemoryPlanner``: buffers are added with their size
and the first and last step that use them, then every buffer gets an offset in one arena whose
size is the peak. The greedy strategy places the largest buffers first, each at the lowest offset
that does not overlap (in time and in space) a buffer already placed — TFLM's
``GreedyMemoryPlanner`` and TinyEngine's first-fit allocator do the same.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every buffer starts on this boundary (8 keeps doubles and 64-bit SIMD loads aligned on M7).
ALIGNMENT = 8


def align_up(n: int, alignment: int = ALIGNMENT) -> int:
    return (n + alignment - 1) // alignment * alignment


@dataclass(frozen=True)
class PlannedBuffer:
    name: str
    size: int
    first: int
    last: int
    offset: int


class GreedyMemoryPlanner:
    """Largest-first, lowest-offset placement of buffers with step lifetimes."""

    def __init__(self, alignment: int = ALIGNMENT) -> None:
        self.alignment = alignment
        self._buffers: list[tuple[str, int, int, int]] = []
        self._tiers: dict[str, int] = {}
        self._offsets: dict[str, int] | None = None

    def add_buffer(self, name: str, size: int, first: int, last: int, tier: int = 0) -> None:
        """Register ``size`` bytes live from step ``first`` to step ``last`` (inclusive); buffers
        of a lower ``tier`` are placed first (each tier largest-first)."""
        if size < 0 or first > last:
            raise ValueError(f"buffer {name}: bad size {size} or lifetime [{first}, {last}]")
        if any(b[0] == name for b in self._buffers):
            raise ValueError(f"buffer {name} added twice")
        self._buffers.append((name, size, first, last))
        self._tiers[name] = tier
        self._offsets = None

    def _plan(self) -> dict[str, int]:
        if self._offsets is not None:
            return self._offsets
        order = sorted(self._buffers, key=lambda b: (self._tiers[b[0]], -b[1], b[2], b[0]))
        placed: list[tuple[int, int, int, int]] = []  # offset, end, first, last
        offsets: dict[str, int] = {}
        for name, size, first, last in order:
            live = sorted(
                (o, e) for o, e, f, l in placed if not (l < first or last < f)
            )
            candidate = 0
            for o, e in live:
                if candidate + size <= o:
                    break
                candidate = max(candidate, align_up(e, self.alignment))
            offsets[name] = candidate
            placed.append((candidate, candidate + size, first, last))
        self._offsets = offsets
        return offsets

    def offset(self, name: str) -> int:
        return self._plan()[name]

    def peak(self) -> int:
        offsets = self._plan()
        return max((offsets[n] + s for n, s, _, _ in self._buffers), default=0)

    def buffers(self) -> list[PlannedBuffer]:
        offsets = self._plan()
        return [PlannedBuffer(n, s, f, l, offsets[n]) for n, s, f, l in self._buffers]
