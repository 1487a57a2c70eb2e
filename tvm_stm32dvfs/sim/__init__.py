"""Simulation of the target: host builds of the generated C, the cross-compiled firmware in
Unicorn (instructions and memory accesses per layer phase, the clock registers the driver writes)
and in QEMU, and the cycle model that turns counts into cycles (fitted to a board by calibrate)."""
