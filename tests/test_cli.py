"""The stm32dvfs command: output, one-line errors with exit 2, no half-written output."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tvm_stm32dvfs.models.zoo import ZOO

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tvm_stm32dvfs.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def assert_one_line_error(proc: subprocess.CompletedProcess, pattern: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_compile_prints_layer_table_and_writes_sources(tmp_path):
    out = tmp_path / "kws"
    proc = run_cli("compile", str(ZOO["kws_dscnn"].path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "depthwise_conv2d" in proc.stdout and "arena" in proc.stdout
    assert (out / "model" / "model.c").is_file() and (out / "model" / "model.h").is_file()
    assert (out / "CMakeLists.txt").is_file() and (out / "app" / "main.c").is_file()


def test_validate_reports_the_exact_semantics_and_onnxruntime():
    proc = run_cli("validate", str(ZOO["ic_resnet8"].path), "--inputs", "3")
    assert proc.returncode == 0, proc.stderr
    assert "cosine" in proc.stdout and "exact" in proc.stdout and "onnxruntime" in proc.stdout
    assert "3 full-range random inputs" in proc.stdout


def test_tflite_models_compile_and_validate_against_the_tflite_interpreter(tmp_path):
    model = ROOT / "tests" / "data" / "mlperf_tiny" / "kws_ref_model.tflite"
    proc = run_cli("compile", str(model), "-o", str(tmp_path / "kws"))
    assert proc.returncode == 0, proc.stderr
    assert "conv2d" in proc.stdout and (tmp_path / "kws" / "model" / "model.c").is_file()
    proc = run_cli("validate", str(model), "--inputs", "3")
    assert proc.returncode == 0, proc.stderr
    assert "TFLite reference" in proc.stdout and "TFLite builtin" in proc.stdout
    assert "bit-exact: every output value equals the TFLite reference semantics" in proc.stdout
    calibration = tmp_path / "calibration.npz"
    calibration.write_bytes(b"")
    assert_one_line_error(run_cli("compile", str(model), "-o", str(tmp_path / "q"), "--quantize", str(calibration)),
                          r"--quantize quantizes a float ONNX model")


def test_validate_takes_real_inputs_from_an_npz(tmp_path):
    import numpy as np

    path = tmp_path / "inputs.npz"
    rng = np.random.default_rng(1)
    np.savez(path, input=rng.standard_normal((2, 1, 49, 10)).astype(np.float32))
    proc = run_cli("validate", str(ZOO["kws_dscnn"].int8_path), "--inputs-file", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "inputs.npz (2 samples)" in proc.stdout
    np.savez(path, input=np.zeros((2, 1, 49, 11), np.float32))
    assert_one_line_error(run_cli("validate", str(ZOO["kws_dscnn"].int8_path), "--inputs-file", str(path)),
                          r"inputs.npz: 'input' has shape \(2, 1, 49, 11\); the model takes \(1, 1, 49, 10\)")


def _bad_qdq_model(path: Path) -> None:
    """An int8 MatMul whose result is never quantized: the importer stops inside TVM's
    BlockBuilder, whose destructor logs a warning on file descriptor 2."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.ones((4, 3), np.int8), "w"),
             numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(0, np.int8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "s", "z"], ["wd"]),
             helper.make_node("MatMul", ["xd", "wd"], ["y"], name="mm")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_tvm_log_lines_never_reach_the_terminal(tmp_path):
    path = tmp_path / "float_matmul.onnx"
    _bad_qdq_model(path)
    assert_one_line_error(run_cli("compile", str(path), "-o", str(tmp_path / "o")), r"MatMul node 'mm'")
    import os

    shown = subprocess.run([sys.executable, "-m", "tvm_stm32dvfs.cli", "compile", str(path), "-o", str(tmp_path / "o")],
                           capture_output=True, text=True, env={**os.environ, "STM32DVFS_TVM_LOG": "1"})
    assert "BlockBuilder destroyed" in shown.stderr, "the test's premise: TVM logs on fd 2 here"


@pytest.mark.parametrize("command", [["compile", "-o", "OUT"], ["validate"], ["profile"], ["plan", "--latency-ms", "9"],
                                     ["evaluate", "--predict"], ["calibrate", "MEASURED", "--model"]])
def test_every_command_that_takes_a_model_takes_shape(command, tmp_path):
    """--shape reaches the model loader of every command (a malformed one is the loader's error)."""
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "n"])])
    model = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), model)
    measured = tmp_path / "m.csv"
    measured.write_text("layer,phase,hz,wait_states,cycles\n0,plain,16000000,0,100\n")
    args = [a.replace("OUT", str(tmp_path / "o")).replace("MEASURED", str(measured)) for a in command]
    args = args + [str(model)] if command[0] == "calibrate" else [args[0], str(model), *args[1:]]
    assert_one_line_error(run_cli(*args, "--shape", "x:1xeight"), r"bad --shape 'x:1xeight'")
    assert_one_line_error(run_cli(*args), r"dynamic dimension 'n'.*--shape x:")


def test_corrupt_model_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 50)
    out = tmp_path / "never"
    proc = run_cli("compile", str(bad), "-o", str(out))
    assert_one_line_error(proc, r"not a (readable|valid) ONNX model")
    assert not out.exists(), "no half-written output directory"


def test_unknown_board_is_one_line_exit_2(tmp_path):
    proc = run_cli("compile", str(ZOO["kws_dscnn"].path), "-o", str(tmp_path / "x"), "--board", "arduino-uno")
    assert_one_line_error(proc, r"unknown target .*stm32f746g-disco")


def test_dynamic_shape_fix_on_the_command_line(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "n"])])
    path = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    proc = run_cli("compile", str(path), "-o", str(tmp_path / "o1"))
    assert_one_line_error(proc, r"dynamic dimension 'n'.*--shape")
    proc = run_cli("compile", str(path), "-o", str(tmp_path / "o2"), "--shape", "x:1x8")
    assert proc.returncode == 0, proc.stderr


def test_dynamic_batch_is_a_one_line_note(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])])
    path = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    proc = run_cli("compile", str(path), "-o", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("note: input 'x' has a dynamic batch dimension 'batch'"), lines


def _readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    cmds = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(".venv/bin/stm32dvfs "):
            cmds.append(shlex.split(line.split("#")[0])[1:])
    return cmds


@pytest.mark.parametrize("argv", _readme_commands(), ids=lambda a: " ".join(a[:2]))
def test_readme_commands_run(argv, tmp_path):
    argv = [str(tmp_path / "out") if a.startswith("out/") else a for a in argv]
    proc = run_cli(*argv)
    assert proc.returncode == 0, proc.stderr


def test_compile_quantizes_with_a_calibration_file(tmp_path):
    import numpy as np

    from tvm_stm32dvfs.models.zoo import calibration_set

    calib = tmp_path / "calib.npz"
    np.savez(calib, input=calibration_set("kws_dscnn")[:8])
    proc = run_cli("compile", str(ZOO["kws_dscnn"].path), "-o", str(tmp_path / "q"), "--quantize", str(calib))
    assert proc.returncode == 0, proc.stderr
    assert "int8_t" in (tmp_path / "q" / "model" / "kernels.c").read_text()
    bad = tmp_path / "bad.npz"
    np.savez(bad, input=np.zeros((2, 3, 3), np.float32))
    assert_one_line_error(run_cli("compile", str(ZOO["kws_dscnn"].path), "-o", str(tmp_path / "r"), "--quantize",
                                  str(bad)), r"calibration samples of input 'input' have shape")


@pytest.mark.emulator
def test_plan_prints_the_plan_writes_its_table_and_rejects_an_unreachable_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("STM32DVFS_CACHE_DIR", str(tmp_path / "cache"))
    model = str(ZOO["kws_dscnn"].int8_path)
    out = tmp_path / "planned"
    proc = run_cli("plan", model, "--latency-ms", "200", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "access state" in proc.stdout and "predicted" in proc.stdout
    assert "stm32dvfs_model_plan" in (out / "model" / "plan.c").read_text()
    proc = run_cli("plan", model, "--latency-ms", "0.5")
    assert_one_line_error(proc, r"minimum achievable latency is \d+\.\d+ ms")
    plot = tmp_path / "front.png"
    proc = run_cli("plan", model, "--latency-ms", "200", "--pareto", "4", "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if re.match(r"^│\s+\d", line)]
    assert len(rows) == 4
    energies = [float(row.split("│")[3].replace(",", "")) for row in rows]
    assert all(b <= a for a, b in zip(energies, energies[1:]))
    assert plot.stat().st_size > 10_000
    proc = run_cli("plan", model, "--latency-ms", "50", "--pareto", "2", "--method", "exact")
    assert proc.returncode == 0, proc.stderr
    exact = [row.split("│") for row in proc.stdout.splitlines() if re.match(r"^│\s+\d", row)]
    assert [row[5].strip() for row in exact] == ["yes"] * 2, "the label search proves every plan optimal"


def test_evaluate_rejects_bad_arguments_in_one_line(tmp_path):
    assert_one_line_error(run_cli("evaluate"), r"give a MODEL or --all")
    model = str(ZOO["kws_dscnn"].int8_path)
    assert_one_line_error(run_cli("evaluate", model, "--all"), r"not both")
    assert_one_line_error(run_cli("evaluate", model, "--method", "greedy"), r"unknown --method 'greedy'")
    assert_one_line_error(run_cli("evaluate", model, "--board", "nucleo-nope"), r"nucleo-nope")
    assert_one_line_error(run_cli("evaluate", model, "--qos", "0.5,1"), r"--qos '0.5,1': .* each >= 1")
    assert_one_line_error(run_cli("evaluate", model, "--qos", "fast"), r"--qos 'fast'")
    assert_one_line_error(run_cli("evaluate", "--all", "--project", str(tmp_path / "p")), r"one model's firmware")
    assert not list(tmp_path.iterdir())


@pytest.mark.emulator
@pytest.mark.slow
def test_evaluate_prints_the_policy_table_and_writes_rows_and_plots(tmp_path):
    import json

    out = tmp_path / "eval"
    proc = run_cli("evaluate", str(ZOO["kws_dscnn"].int8_path), "--qos", "1.25,2", "--json", str(out / "rows.json"),
                   "--csv", str(out / "rows.csv"), "--plots", str(out / "plots"), "--format", "svg", "--sensitivity",
                   "--project", str(out / "firmware"))
    assert proc.returncode == 0, proc.stderr
    for policy in ("tinyengine", "tinyengine_sleep", "static_dvfs", "layer_dvfs", "dae_dvfs"):
        assert policy in proc.stdout
    assert "flash wait-state penalty +20%" in proc.stdout and "DAE+DVFS saves" in proc.stdout
    rows = json.loads((out / "rows.json").read_text())
    assert len(rows) == 2 * 6 and {r["policy"] for r in rows} >= {"tinyengine", "dae_dvfs"}
    assert all(r["latency_ms"] is not None for r in rows if r["feasible"])
    assert len((out / "rows.csv").read_text().splitlines()) == 1 + len(rows)
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert plots == ["energy_kws_dscnn_int8_stm32f746g-disco.svg", "timeline_kws_dscnn_int8_stm32f746g-disco.svg"]
    assert sorted({r["qos"] for r in rows}) == [1.25, 2.0]
    # the project carries the plan of (e) at the loosest level: its plan table lists (e)'s states
    e = next(r for r in rows if r["policy"] == "dae_dvfs" and r["qos"] == 2.0)
    assert (out / "firmware" / "CMakeLists.txt").is_file()
    plan_c = (out / "firmware" / "model" / "plan.c").read_text()
    assert all(state in plan_c for state in e["states"].split())


def test_evaluate_all_runs_every_bundled_model_on_every_board(monkeypatch, tmp_path):
    """--all's loop, cut to one model and one board (the whole table is benchmarks/energy.py's)."""
    import json

    from typer.testing import CliRunner

    import tvm_stm32dvfs.boards
    import tvm_stm32dvfs.models.zoo as zoo
    from tvm_stm32dvfs.cli import app

    monkeypatch.setattr(zoo, "ZOO", {"kws_dscnn": zoo.ZOO["kws_dscnn"]})
    monkeypatch.setattr(tvm_stm32dvfs.boards, "known_boards", lambda: ["stm32f746g-disco"])
    result = CliRunner().invoke(app, ["evaluate", "--all", "--predict", "--qos", "1.5,3", "--json",
                                      str(tmp_path / "all.json")])
    assert result.exit_code == 0, result.output
    assert "kws_dscnn_int8 on stm32f746g-disco" in result.output
    rows = json.loads((tmp_path / "all.json").read_text())
    assert {(r["model"], r["board"]) for r in rows} == {("kws_dscnn_int8", "stm32f746g-disco")}
    assert len(rows) == 2 * 6


def test_run_errors_are_one_line_and_write_nothing(tmp_path, stand_in_probes):
    """stm32dvfs run: no such port, an unknown probe, a probe not installed, an unknown platform."""
    kws = str(ZOO["kws_dscnn"].int8_path)
    csv = tmp_path / "out" / "kws.csv"
    stand_in_probes("openocd", "exit 0")  # this machine's flashing tools hidden, a stand-in openocd found
    assert_one_line_error(run_cli("run", kws, "--port", "/dev/ttyNOPE", "--csv", str(csv)),
                          r"^error: no such serial port /dev/ttyNOPE: is the board plugged in\?")
    assert_one_line_error(run_cli("run", kws, "--port", "/dev/ttyACM0", "--probe", "jlink"),
                          r"^error: unknown probe 'jlink': use openocd, st-flash, pyocd")
    assert_one_line_error(run_cli("run", kws, "--port", "/dev/ttyACM0", "--probe", "st-flash"),
                          r"^error: st-flash is not installed: install stlink-tools")
    assert_one_line_error(run_cli("run", kws, "--platform", "renode"),
                          r"^error: unknown platform 'renode': use board or qemu")
    assert not csv.parent.exists()


@pytest.mark.emulator
@pytest.mark.slow
def test_run_on_qemu_calibrates_and_plan_uses_the_fitted_model(tmp_path, tool):
    """The loop on the command line: a planned build run on QEMU over its serial link, the CSV and
    the fitted cycle model written, then `stm32dvfs plan --cycle-model` plans with it."""
    tool("qemu-system-arm")
    kws = str(ZOO["kws_dscnn"].int8_path)
    csv, fitted = tmp_path / "kws.csv", tmp_path / "fitted.toml"
    proc = run_cli("run", kws, "--platform", "qemu", "--latency-ms", "40", "--inputs", "2", "--csv", str(csv),
                   "--calibrate", str(fitted))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"kws_dscnn_int8.onnx on QEMU \(/dev/pts/\d+\)", proc.stdout)
    rows = [line.split("│") for line in proc.stdout.splitlines() if re.match(r"^│\s+[01] │", line)]
    assert [[c.strip() for c in r[1:3]] + [r[4].strip()] for r in rows] == [["0", "0", "yes"], ["1", "0", "yes"]]
    assert "cycle model fitted to" in proc.stdout and f"written: {fitted}" in proc.stdout
    assert csv.read_text().startswith("# stm32f746g-disco (qemu on /dev/pts/")
    assert 'source = "fitted: stm32dvfs run of kws_dscnn_int8.onnx on QEMU' in fitted.read_text()
    proc = run_cli("plan", kws, "--latency-ms", "40", "--cycle-model", str(fitted))
    assert proc.returncode == 0, proc.stderr
    assert "predicted" in proc.stdout


@pytest.mark.emulator
def test_run_sends_the_inputs_of_a_file_and_saves_the_outputs(tmp_path, tool):
    """--inputs-file: the samples of an .npz go to the (QEMU) board; --outputs-file: its outputs
    come back stacked per output, equal to the host build's."""
    import numpy as np

    import tvm_stm32dvfs

    tool("qemu-system-arm")
    path = ZOO["kws_dscnn"].int8_path
    mod, params = tvm_stm32dvfs.from_onnx(path)
    compiled = tvm_stm32dvfs.build(mod, params=params, model_name=path.stem)
    samples = np.random.default_rng(4).standard_normal((2, *compiled.inputs[0].shape)).astype(np.float32)
    np.savez(tmp_path / "in.npz", samples)
    proc = run_cli("run", str(path), "--platform", "qemu", "--inputs-file", str(tmp_path / "in.npz"),
                   "--outputs-file", str(tmp_path / "out" / "y.npz"))
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "out" / "y.npz") as saved:
        assert saved.files == ["output0"] and saved["output0"].shape == (2, *compiled.outputs[0].shape)
        for sample, got in zip(samples, saved["output0"]):
            np.testing.assert_array_equal(got, compiled.run_host(sample))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, samples[..., :5, :])
    assert_one_line_error(run_cli("run", str(path), "--platform", "qemu", "--inputs-file", str(wrong)),
                          r"^error: .*wrong.npz: '.*' has shape \(2, 1, 1, 5, 10\); the model takes")
