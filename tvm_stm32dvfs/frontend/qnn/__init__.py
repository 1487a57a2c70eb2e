"""Int8 arithmetic: fixed-point requantisation and the int8 kernels as TE computations."""
