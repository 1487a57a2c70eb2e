"""The static arena planner: no two live buffers overlap, ever."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_stm32dvfs.lower.planner import ALIGNMENT, GreedyMemoryPlanner

buffers = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(0, 20), st.integers(0, 6)), min_size=1, max_size=25
)


@settings(max_examples=150, deadline=None)
@given(buffers)
def test_live_buffers_never_overlap(spec):
    planner = GreedyMemoryPlanner()
    for i, (size, first, span) in enumerate(spec):
        planner.add_buffer(f"b{i}", size, first, first + span)
    placed = planner.buffers()
    for b in placed:
        assert b.offset % ALIGNMENT == 0
        assert b.offset + b.size <= planner.peak()
    for i, a in enumerate(placed):
        for b in placed[i + 1 :]:
            live_together = not (a.last < b.first or b.last < a.first)
            if live_together and a.size and b.size:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)
    # the peak is never below the largest set of simultaneously live bytes
    steps = {s for b in placed for s in range(b.first, b.last + 1)}
    lower = max(sum(b.size for b in placed if b.first <= s <= b.last) for s in steps)
    assert planner.peak() >= lower


def test_disjoint_lifetimes_share_memory():
    planner = GreedyMemoryPlanner()
    planner.add_buffer("a", 1000, 0, 1)
    planner.add_buffer("b", 1000, 2, 3)
    assert planner.peak() == 1000
    assert planner.offset("a") == planner.offset("b") == 0
