"""The wheel carries the stages' templates, runtime/ and cmake/: an installed package works outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_compiles_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
                   check=True, timeout=600)
    wheels = list(dist.glob("tvm_stm32dvfs-*.whl"))
    assert len(wheels) == 1
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--quiet", str(wheels[0])], check=True, timeout=600)
    # the dependencies (TVM, onnx, ...) come from the test environment, the package from the wheel
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    script = textwrap.dedent(
        """
        import numpy as np, tvm, tvm_stm32dvfs
        from pathlib import Path
        from tvm_stm32dvfs.models.zoo import ZOO
        assert "site-packages" in tvm_stm32dvfs.__file__, tvm_stm32dvfs.__file__
        assert Path(tvm_stm32dvfs.__file__).parent.joinpath("codegen", "templates", "model.c.j2").is_file()
        assert Path(tvm_stm32dvfs.__file__).parent.joinpath("_data", "runtime", "include", "stm32dvfs_runtime.h").is_file()
        assert str(tvm.target.Target("stm32dvfs").attrs["model"]) == "stm32f746g-disco"
        mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].path)
        c = tvm_stm32dvfs.build(mod, params=params)
        c.export_c("model_out")
        c.export_project("project")
        y = c.run_host(np.zeros((1, 1, 49, 10), np.float32))
        assert y.shape == (1, 12) and abs(float(y.sum()) - 1.0) < 1e-5
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    proc = subprocess.run([str(py), "-c", script], cwd=work, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (work / "model_out" / "model.c").is_file()
    # the exported firmware project builds and runs with nothing of the checkout (host platform)
    build = work / "project" / "build"
    subprocess.run(["cmake", "-S", str(work / "project"), "-B", str(build), "-DSTM32DVFS_PLATFORM=host"], check=True,
                   capture_output=True, timeout=600)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True, timeout=600)
    run = subprocess.run([str(build / "firmware")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and run.stdout.startswith("status 0 inferences 10"), run.stdout
