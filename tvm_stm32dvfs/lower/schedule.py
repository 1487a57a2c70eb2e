"""Default TIR schedule of a fused operator: fewer, smaller intermediates.

Legalised Relax operators come as one loop nest per op (pad, conv, bias add, ReLU, ...), each
writing a full-size intermediate. On a microcontroller those intermediates are SRAM, so before
lowering every fused PrimFunc is rescheduled with ``tvm.s_tir.Schedule``:

1. elementwise blocks with a single consumer are inlined into it (bias add and activation
   become one expression), except padding, which would put a branch in the MAC loop;
2. the remaining epilogue of a reduction (conv, matmul, pooling) is computed right after each
   output element's reduction (``reverse_compute_at`` under the last spatial loop), so the
   accumulator shrinks to one element once buffers are compacted;
3. every reduction's initialisation is hoisted out of its reduction loops
   (``decompose_reduction``): no ``if (k == 0)`` in the MAC loop, and a C compiler can see that
   the accumulator is initialised.

Every primitive is checked by TVM; one that does not apply leaves the function as it was.
"""

from __future__ import annotations

from tvm import s_tir, tirx

_DATA_PAR = 0


def _is_reduction(sch: s_tir.Schedule, block) -> bool:
    return any(int(iv.iter_type) != _DATA_PAR for iv in sch.get(block).iter_vars)


def _spatial_loop_count(sch: s_tir.Schedule, block) -> int:
    count = 0
    for iv in sch.get(block).iter_vars:
        if int(iv.iter_type) != _DATA_PAR:
            break
        count += 1
    return count


def reduce_intermediates(func: tirx.PrimFunc) -> tirx.PrimFunc:
    """Apply the default schedule described in the module docstring."""
    sch = s_tir.Schedule(func)
    root = sch.get_sblock("root") if _has_root(sch) else None
    if root is None:
        return func
    outputs = {sch.get(b).name_hint for b in sch.get_output_blocks(root)}
    # 1. inline single-consumer elementwise blocks (not padding, not outputs)
    for block in list(sch.get_child_blocks(root)):
        name = sch.get(block).name_hint
        if name in outputs or name.startswith("pad") or _is_reduction(sch, block):
            continue
        if len(sch.get_consumers(block)) != 1:
            continue
        try:
            sch.compute_inline(block)
        except Exception:  # noqa: BLE001 - TVM raises ScheduleError (tvm.s_tir.schedule) subclasses and TVMError
            continue
    # 2. epilogue of a reduction computed per output element
    for block in list(sch.get_child_blocks(root)):
        if not _is_reduction(sch, block):
            continue
        consumers = sch.get_consumers(block)
        if len(consumers) != 1 or _is_reduction(sch, consumers[0]):
            continue
        loops = sch.get_loops(block)
        spatial = _spatial_loop_count(sch, block)
        if spatial == 0 or spatial > len(loops):
            continue
        try:
            sch.reverse_compute_at(consumers[0], loops[spatial - 1])
        except Exception:  # noqa: BLE001
            continue
    # 3. accumulator initialisation before the reduction loops
    for block in list(sch.get_child_blocks(root)):
        if not _is_reduction(sch, block):
            continue
        loops = sch.get_loops(block)
        spatial = _spatial_loop_count(sch, block)
        if spatial >= len(loops):
            continue
        try:
            sch.decompose_reduction(block, loops[spatial])
        except Exception:  # noqa: BLE001
            continue
    return sch.mod["main"]


def _has_root(sch: s_tir.Schedule) -> bool:
    try:
        sch.get_sblock("root")
        return True
    except Exception:  # noqa: BLE001
        return False
