"""Host runs of the generated C: numerics on the development machine.

Two ways, same sources: a shared library called through ctypes (fast, for ``run_host``), and a
stand-alone executable built with ``-fsanitize=address,undefined`` from ``runtime/host/harness.c``
(for the tests: any out-of-bounds write or undefined behaviour aborts the run).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..csources import CSources
from ..errors import ToolchainError
from ..resources import data_dir

#: Warnings are errors: the generated C must compile clean.
CFLAGS = ("-std=c11", "-O2", "-Wall", "-Wextra", "-Werror")
# The kernel library forces its micro-kernels inline (stm32dvfs_nn_support.h) for the constant
# shapes on Cortex-M; instrumented, every inlined copy costs the compiler ~30x (minutes per
# model). The sanitized build checks behaviour, not speed, so it lets GCC choose, at -O1 (as the
# ASan documentation advises: most of -O2's speed at half its compile time here).
SANITIZE = ("-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g",
            "-DSTM32DVFS_NN_INLINE=static inline")

_CACHE = Path(os.environ.get("STM32DVFS_CACHE", Path(tempfile.gettempdir()) / "stm32dvfs-host"))


def host_compiler() -> str:
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise ToolchainError(f"host C compiler '{cc}' not found: install gcc (apt-get install gcc)")
    return cc


def _build_dir(sources: CSources, flavour: str) -> Path:
    digest = hashlib.sha256()
    for name in sorted(sources.files):
        digest.update(name.encode())
        digest.update(sources.files[name].encode())
    digest.update(flavour.encode())
    return _CACHE / digest.hexdigest()[:24]


def _compile(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        # the generated C failing to compile is our bug, not the user's: keep the whole log
        raise RuntimeError(f"{what} failed to compile:\n{' '.join(cmd)}\n{proc.stderr}")


def _object(source: Path, text: str, include: Path, headers: str, flags: list[str], what: str) -> Path:
    """``source`` compiled with ``flags``, cached by its text, every header's and the flags: the
    runtime library's files are the same in every model, so each is compiled once per flavour."""
    key = hashlib.sha256("\0".join([*flags, headers, source.name, text]).encode()).hexdigest()[:24]
    obj = _CACHE / "objects" / f"{key}.o"
    if not obj.exists():
        obj.parent.mkdir(parents=True, exist_ok=True)
        tmp = obj.with_suffix(f".{os.getpid()}.tmp.o")
        _compile([host_compiler(), *CFLAGS, *flags, "-I", str(include), "-c", str(source), "-o", str(tmp)], what)
        tmp.replace(obj)  # atomic: concurrent builds of the same file are safe
    return obj


def _build(sources: CSources, flavour: str, output: str, flags: list[str], extra: list[Path], what: str) -> Path:
    """Compile ``sources`` (+ ``extra`` files) into ``output`` in a content-addressed cache folder;
    the folder appears whole (built aside, then renamed), so concurrent builds are safe."""
    out = _build_dir(sources, flavour)
    if (out / output).exists():
        return out / output
    _CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=_CACHE))
    sources.write(tmp)
    headers = "\0".join(f"{n}\0{t}" for n, t in sorted(sources.files.items()) if not n.endswith(".c"))
    objects = [_object(tmp / c, sources.files[c], tmp, headers, flags, what) for c in sources.c_files]
    objects += [_object(e, e.read_text(), tmp, headers, flags, what) for e in extra]
    _compile([host_compiler(), *CFLAGS, *flags, *map(str, objects), "-o", str(tmp / output), "-lm"], what)
    try:
        tmp.rename(out)
    except OSError:  # another process built the same sources meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return out / output


def build_shared_library(sources: CSources) -> Path:
    """Compile the model into a shared library (cached by content)."""
    return _build(sources, "shared", "libmodel.so", ["-shared", "-fPIC"], [], "host model library")


def build_sanitized_harness(sources: CSources) -> Path:
    """Compile model + ``runtime/host/harness.c`` into an executable under ASan and UBSan."""
    harness = data_dir("runtime") / "host" / "harness.c"
    return _build(sources, "sanitized", "harness", list(SANITIZE), [harness], "sanitized host harness")


def run_shared(lib_path: Path, inputs: Sequence[np.ndarray], output_specs) -> list[np.ndarray]:
    """Call ``stm32dvfs_model_run`` of a built library once."""
    lib = ctypes.CDLL(str(lib_path))
    fn = lib.stm32dvfs_model_run
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]
    ins = [np.ascontiguousarray(a) for a in inputs]
    outs = [np.zeros(shape, dtype=dtype) for shape, dtype in output_specs]
    in_ptrs = (ctypes.c_void_p * max(1, len(ins)))(*[a.ctypes.data for a in ins])
    out_ptrs = (ctypes.c_void_p * max(1, len(outs)))(*[a.ctypes.data for a in outs])
    status = fn(in_ptrs, out_ptrs)
    if status != 0:
        raise RuntimeError(f"stm32dvfs_model_run returned status {status}")
    return outs


def run_sanitized(exe: Path, inputs: Sequence[np.ndarray], output_specs) -> list[np.ndarray]:
    """Run the sanitized harness: inputs and outputs travel as raw files."""
    with tempfile.TemporaryDirectory(prefix="stm32dvfs-run-") as tmp:
        tmpd = Path(tmp)
        args = [str(exe)]
        for i, a in enumerate(inputs):
            p = tmpd / f"in{i}.bin"
            np.ascontiguousarray(a).tofile(p)
            args.append(str(p))
        outs = []
        for i, _ in enumerate(output_specs):
            args.append(str(tmpd / f"out{i}.bin"))
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
        proc = subprocess.run(args, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"sanitized host run failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        for i, (shape, dtype) in enumerate(output_specs):
            outs.append(np.fromfile(tmpd / f"out{i}.bin", dtype=dtype).reshape(shape))
    return outs
