"""Generated C: warning-free with gcc and arm-none-eabi-gcc, and exact constants."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tvm_stm32dvfs.codegen.emit import _format_values
from tvm_stm32dvfs.sim.host import CFLAGS


ARM_FLAGS = ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-O2"]


@pytest.mark.xdist_group("zoo")
def test_cross_compiles_for_cortex_m7_without_warnings(zoo_name, tmp_path, zoo_model, tool):
    cc = tool("arm-none-eabi-gcc")
    compiled = zoo_model(zoo_name)
    compiled.export_c(tmp_path)
    for c_file in compiled.sources.c_files:
        cmd = [cc, *ARM_FLAGS, "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path), "-c",
               str(tmp_path / c_file), "-o", str(tmp_path / (c_file + ".o"))]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    # the arena is .bss, the weights are read-only data (flash)
    nm = subprocess.run([tool("arm-none-eabi-nm"), "-S", str(tmp_path / "weights.c.o")],
                        capture_output=True, text=True, check=True).stdout
    assert nm and all(line.split()[2] in "rR" for line in nm.splitlines() if len(line.split()) == 4)


def test_the_build_flags_turn_a_warning_into_an_error(tmp_path):
    """What the generated C is held to: a C file with an unused parameter does not compile."""
    source = tmp_path / "warns.c"
    source.write_text("int f(int unused) { return 0; }\n")
    proc = subprocess.run(["gcc", *CFLAGS, "-c", str(source), "-o", str(tmp_path / "warns.o")],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "unused" in proc.stderr


def test_float_constants_round_trip(tmp_path):
    values = np.array([0.0, -0.0, 1.0, -2.5, 1e-38, 3.4028235e38, 0.1, 7.0, np.float32(1) / 3], dtype=np.float32)
    src = tmp_path / "v.c"
    src.write_text(
        "#include <math.h>\n#include <stdio.h>\n#include <string.h>\n#include <stdint.h>\n"
        f"static const float v[] = {{\n{_format_values(values)}\n}};\n"
        "int main(void) { for (unsigned i = 0; i < sizeof v / sizeof v[0]; ++i) {"
        " uint32_t u; memcpy(&u, &v[i], 4); printf(\"%u\\n\", u); } return 0; }\n"
    )
    exe = tmp_path / "v"
    subprocess.run(["gcc", *CFLAGS, str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert [int(u) for u in out] == values.view(np.uint32).tolist()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kws_dscnn", "vww_mobilenet", "ic_resnet8", "mcunet_ir"])
def test_every_decoupled_tile_offered_compiles_for_cortex_m4_and_m7(name, tmp_path, tool):
    """The micro-kernels are specialised per layer (inline assembly included): every tile size the
    optimizer may pick, and the plain kernels, must compile for both cores at -O2 and -Os."""
    import tvm

    import tvm_stm32dvfs
    from tvm_stm32dvfs import dae
    from tvm_stm32dvfs.models.zoo import ZOO

    cc = tool("arm-none-eabi-gcc")
    mod, _ = tvm_stm32dvfs.from_onnx(ZOO[name].int8_path)
    fused = tvm_stm32dvfs.transform.stm32dvfs_pipeline(dae=False)(mod)
    options = {gv.name_hint: dae.tile_options(dae.kernel_shape(f)) + dae.tile_options(dae.kernel_shape(f), dma="sleep")
               for gv, f in fused.functions_items()
               if isinstance(f, tvm.tirx.PrimFunc) and dae.kernel_shape(f) is not None}
    builds = [tvm_stm32dvfs.build(mod, dae=False)]
    for k in range(max(len(o) for o in options.values())):
        builds.append(tvm_stm32dvfs.build(mod, granularity={n: o[min(k, len(o) - 1)].granularity
                                                            for n, o in options.items()}))
    for i, compiled in enumerate(builds):
        out = tmp_path / str(i)
        compiled.export_c(out)
        for core in (["-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16"], ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16"]):
            for level in ("-O2", "-Os"):
                proc = subprocess.run([cc, *core, "-mthumb", "-mfloat-abi=hard", level, "-std=c11", "-Wall", "-Wextra",
                                       "-Werror", "-I", str(out), "-c", str(out / "kernels.c"), "-o",
                                       str(out / "kernels.o")], capture_output=True, text=True)
                assert proc.returncode == 0, (i, core, level, proc.stderr[-2000:])
