"""The clock driver's own cost of each switch, measured in the emulator.

A switch costs the time the hardware needs (PLL lock, regulator settling: the board's transition
model, ``boards/transitions.py``) plus the instructions the firmware's clock driver executes to
program it (register writes, read-backs, calls). The second part depends on the driver and on the
pair of states, so it is measured: the board's real driver (``runtime/src/stm32dvfs_clock*.c``) is
cross-compiled with a table of the states and run in Unicorn against the clock register model
(:mod:`.clocks`, whose status bits are ready at once: no lock time counted twice), once per ordered
pair, and its instructions priced with the core's cycle model.
"""

from __future__ import annotations

from typing import Sequence

from ..boards import Board
from ..boards.clocktree import c_initializer
from ..csources import CSources, runtime_files
from .cycles import CycleModel, load_cycle_model
from .emulator import Emulator, board_defines, cross_compile, memory_map

PROBE = "stm32dvfs_switch_probe"


def _probe_source(states) -> str:
    rows = "\n".join(f"  {c_initializer(s)}, /* {s.id} */" for s in states)
    return f"""/* The clock states of a switch measurement (tvm_stm32dvfs/sim/switches.py). */
#include <stdint.h>

#include "stm32dvfs_plan.h"

static const stm32dvfs_clock_state states[{len(states)}] = {{
{rows}
}};

int {PROBE}(uint32_t i)
{{
  return stm32dvfs_clock_apply(&states[i]);
}}
"""


def switch_cycles(board: Board, state_ids: Sequence[str], model: CycleModel | None = None
                  ) -> dict[tuple[str, str], float]:
    """Core cycles the board's clock driver spends on each switch between ``state_ids`` (ordered
    pairs), from its emulated instructions and ``model`` (default: the bundled cycle model of the
    board's core; no flash data reads: the driver reads registers, not constants)."""
    from .clocks import clock_model

    states = [board.state(i) for i in state_ids]
    files = dict(runtime_files(), **{"switch_probe.c": _probe_source(states)})
    elf = cross_compile(CSources(files), core=board.core, memory=memory_map(board), defines=board_defines(board),
                        keep=(PROBE,))
    emu = Emulator(elf, memory=memory_map(board), core=board.core)
    emu.track_clocks(clock_model(board))
    model = model or load_cycle_model(board.core)
    cycles: dict[tuple[str, str], float] = {}
    for i, a in enumerate(states):
        for j, b in enumerate(states):
            if i == j:
                continue
            emu.call(PROBE, i)  # into a
            status, counts = emu.counted_call(PROBE, j)  # a -> b
            if status != 0:
                raise RuntimeError(f"the clock driver failed the switch {a.id} -> {b.id} in the emulator "
                                   f"(status {status})")
            cycles[(a.id, b.id)] = model.cycles(counts, 0, 0)
    return cycles
