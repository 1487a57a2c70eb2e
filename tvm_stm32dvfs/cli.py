"""The ``stm32dvfs`` command line.

Every command turns a :class:`~tvm_stm32dvfs.errors.Stm32DvfsError` into one line on stderr and
exit status 2 (no traceback); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console

from .errors import Stm32DvfsError, Stm32DvfsWarning
from .vocabulary import DEFAULT_SOLVER

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Compile CNNs for STM32 microcontrollers for minimum energy per inference.",
    pretty_exceptions_enable=False,
)
# piped output (CI logs, files) gets wide tables instead of ellipsised columns
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)


def _note(message, category, filename, lineno, file=None, line=None) -> None:
    """Our warnings as one ``note:`` line each; other libraries' warnings are not for the user."""
    if issubclass(category, Stm32DvfsWarning):
        err_console.print(f"note: {message}", markup=False, highlight=False, soft_wrap=True)


def _one_line_errors(func: Callable) -> Callable:
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _note
            try:
                return func(*args, **kwargs)
            except Stm32DvfsError as exc:
                err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
                raise typer.Exit(2) from None

    return wrapper


MODEL_HELP = "model file: ONNX (.onnx: float, or int8 QDQ / QOperator) or int8 TensorFlow Lite (.tflite)"
SHAPE_HELP = "NAME:1x3x32x32, the static shape of an input with dynamic dimensions (repeatable)"


def _load(model: Path, shape: Optional[list[str]] = None):
    """``(mod, params)`` of a model file, whatever its format, with the ``--shape`` given."""
    from .frontend import load_model

    return load_model(model, shape=_parse_shape(shape))


def _parse_shape(shape: Optional[list[str]]) -> Optional[dict[str, list[int]]]:
    """``--shape input:1x3x32x32`` (repeatable) -> ``{"input": [1, 3, 32, 32]}``."""
    if not shape:
        return None
    from .errors import DynamicShapeError

    out: dict[str, list[int]] = {}
    for item in shape:
        name, sep, dims = item.rpartition(":")
        try:
            out[name if sep else ""] = [int(d) for d in dims.lower().split("x")]
        except ValueError:
            raise DynamicShapeError(
                f"bad --shape '{item}': write NAME:DxDxD, e.g. input:1x3x32x32"
            ) from None
    if "" in out:
        if len(out) > 1:
            raise DynamicShapeError("--shape: name every input when giving several shapes")
    return out


@app.command("compile")
@_one_line_errors
def compile_cmd(
    model: Path = typer.Argument(..., help=MODEL_HELP),
    output: Path = typer.Option(..., "-o", "--output", help="directory for the firmware project (CMake)"),
    board: str = typer.Option("stm32f746g-disco", "--board", help="target board"),
    shape: Optional[list[str]] = typer.Option(None, "--shape", help=SHAPE_HELP),
    quantize: Optional[Path] = typer.Option(None, "--quantize", help="calibration .npz: quantize the float model to int8 first"),
    dae: bool = typer.Option(True, "--dae/--no-dae", help="decoupled access-execute tiles (--no-dae: plain kernels)"),
) -> None:
    """Compile MODEL to a standalone C model and print its layer table and memory figures."""
    from .driver import build
    from .frontend import from_onnx
    from .evaluate.report import layer_table

    source = model
    if quantize is not None:
        from .frontend.quantize import quantize as quantize_model

        if model.suffix.lower() == ".tflite":
            raise Stm32DvfsError("--quantize quantizes a float ONNX model; a .tflite model is compiled as it is "
                                 "quantized: drop --quantize")

        source = quantize_model(model, quantize)
    mod, params = _load(source, shape) if quantize is None else from_onnx(source, shape=_parse_shape(shape))
    compiled = build(mod, target=f"stm32dvfs-{board}", params=params, dae=dae, model_name=model.stem)
    compiled.export_project(output)
    console.print(layer_table(compiled, title=f"{model.name} on {board}"))
    console.print(
        f"arena (peak activation SRAM): {compiled.arena_bytes} B   "
        f"weights (flash): {compiled.weights_bytes} B   firmware project: {output} (README.md there says how to build)"
    )


@app.command("validate")
@_one_line_errors
def validate_cmd(
    model: Path = typer.Argument(..., help=MODEL_HELP),
    inputs: int = typer.Option(10, "--inputs", min=1, help="number of random inputs (full range: int8 uniform, "
                               "floats over the input quantizer's range)"),
    inputs_file: Optional[Path] = typer.Option(None, "--inputs-file", help=".npz of real inputs, one array per "
                                               "model input (by name), N x the input's shape"),
    seed: int = typer.Option(0, "--seed", help="random seed of the inputs"),
    board: str = typer.Option("stm32f746g-disco", "--board", help="target board"),
    shape: Optional[list[str]] = typer.Option(None, "--shape", help=SHAPE_HELP),
    emulate: bool = typer.Option(False, "--emulate", help="also run the cross-compiled firmware in the emulator"),
    dae: bool = typer.Option(True, "--dae/--no-dae", help="decoupled access-execute tiles (--no-dae: plain kernels)"),
) -> None:
    """Run the generated C on the host against the model's exact semantics and a second reference
    (onnxruntime for .onnx, TFLite's default kernels for .tflite)."""
    from rich.progress import Progress

    from .driver import build
    from .evaluate.validate import emulation_table, validate, validate_emulation, validation_table

    mod, params = _load(model, shape)
    compiled = build(mod, target=f"stm32dvfs-{board}", params=params, dae=dae, model_name=model.stem)
    with Progress(console=err_console, transient=True) as bar:
        references = "TFLite reference and builtin" if model.suffix.lower() == ".tflite" else "exact reference, onnxruntime"
        task = bar.add_task(f"host C, {references}", total=None)
        report = validate(compiled, model, n_inputs=inputs, seed=seed, inputs_file=inputs_file,
                          progress=lambda done, total: bar.update(task, completed=done, total=total))
    exact, other = report.labels
    console.print(validation_table(report, title=f"{model.name}: host C vs {exact} and {other}"))
    if report.bit_exact:
        console.print(f"bit-exact: every output value equals the {exact} semantics")
    else:
        worst = max(o.exact.max_abs_error for o in report.outputs)
        console.print(f"differs from the {exact} semantics by up to {worst:.3g}: expected only where the model "
                      "computes in float (float32 here, float64 in the reference)")
    if emulate:
        console.print(emulation_table(validate_emulation(compiled, n_inputs=inputs, seed=seed),
                                      title=f"{model.name}: emulated Cortex-M vs host C"))


@app.command("profile")
@_one_line_errors
def profile_cmd(
    model: Path = typer.Argument(..., help=MODEL_HELP),
    board: str = typer.Option("stm32f746g-disco", "--board", help="target board"),
    board_file: Optional[Path] = typer.Option(None, "--board-file", help="your own board TOML"),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="write the profile as CSV"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="write the profile as JSON"),
    granularities: int = typer.Option(3, "--granularities", min=1, help="tile options per layer"),
    shape: Optional[list[str]] = typer.Option(None, "--shape", help=SHAPE_HELP),
    no_cache: bool = typer.Option(False, "--no-cache", help="recompute even if a cached profile exists"),
    cycle_model: Optional[Path] = typer.Option(None, "--cycle-model", help="calibrated cycle model (from "
                                               "stm32dvfs calibrate) instead of the bundled one"),
) -> None:
    """Emulate MODEL at every DAE granularity and cost each layer/phase at every candidate clock state."""
    from rich.progress import Progress

    from .driver import build
    from .boards import load
    from .profile import profile

    b = load(board_file) if board_file is not None else load(board)
    mod, params = _load(model, shape)
    compiled = build(mod, target=f"stm32dvfs-{b.name}" if board_file is None else "stm32dvfs", params=params,
                     model_name=model.stem)
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("emulating builds", total=None)
        result = profile(compiled, b, max_granularities=granularities, use_cache=not no_cache,
                         progress=lambda done, total: bar.update(task, completed=done, total=total),
                         cycle_model=cycle_model)
    if csv_path is not None:
        result.write_csv(csv_path)
    if json_path is not None:
        json_path.write_text(result.to_json())
    layers = len({r.layer for r in result.rows})
    console.print(f"{model.name} on {b.name}: {len(result.rows)} rows ({layers} layers x granularities x phases x "
                  f"{len({r.state for r in result.rows})} clock states)")
    for option in result.skipped:
        console.print(f"left out: the DAE tiles {option} (the firmware does not fit {b.name}'s RAM)")


@app.command("plan")
@_one_line_errors
def plan_cmd(
    model: Path = typer.Argument(..., help=MODEL_HELP),
    latency_ms: float = typer.Option(..., "--latency-ms", help="latency budget of one inference (ms); with "
                                     "--pareto the loosest budget of the sweep"),
    board: str = typer.Option("stm32f746g-disco", "--board", help="target board"),
    period_ms: Optional[float] = typer.Option(None, "--period-ms", help="one inference every PERIOD ms "
                                              "(default: the budget); the slack is spent idle"),
    method: str = typer.Option(DEFAULT_SOLVER, "--method", help="solver: dp, exact, z3 or greedy"),
    pareto: Optional[int] = typer.Option(None, "--pareto", min=2, help="sweep N budgets from the fastest "
                                         "possible to --latency-ms and print the energy/latency front"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="with --pareto: save the front as an image"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="write the planned firmware project here"),
    granularities: int = typer.Option(3, "--granularities", min=1, help="DAE tile options per layer"),
    shape: Optional[list[str]] = typer.Option(None, "--shape", help=SHAPE_HELP),
    cycle_model: Optional[Path] = typer.Option(None, "--cycle-model", help="calibrated cycle model (from "
                                               "stm32dvfs calibrate or run --calibrate) instead of the bundled one"),
) -> None:
    """Choose the clock state of every layer phase for minimum energy within a latency budget."""
    from .driver import build
    from .optimize.plan import METHODS
    from .evaluate.report import pareto_table, plan_table, plot_pareto

    if method not in METHODS:
        raise Stm32DvfsError(f"unknown --method {method!r}: use dp, exact, z3 or greedy")
    if plot is not None and pareto is None:
        raise Stm32DvfsError("--plot draws the Pareto front: add --pareto N")
    mod, params = _load(model, shape)
    if pareto is None:
        with console.status("profiling in the emulator and solving"):
            compiled = build(mod, target=f"stm32dvfs-{board}", params=params, model_name=model.stem,
                             latency_ms=latency_ms, period_ms=period_ms, plan_method=method,
                             max_granularities=granularities, cycle_model=cycle_model)
        if output is not None:
            compiled.export_project(output)
        plan = compiled.plan
        console.print(plan_table(compiled, title=f"{model.name} on {board}: DVFS plan within {latency_ms:g} ms"))
        console.print(f"predicted {plan.predicted_latency_ms:.3f} ms, {plan.predicted_energy_uj:,.1f} uJ per "
                      f"{plan.period_ms:g} ms period; starts and idles ({plan.idle_mode}) in {plan.initial_state}; "
                      f"{plan.solver}{' (optimal)' if plan.optimal else ''} in {plan.solve_s:.2f} s"
                      + (f"; firmware project: {output}" if output is not None else ""))
        return
    from .boards import load
    from .optimize import pareto_front
    from .optimize.from_profile import plan_problem
    from .optimize.plan import minimum_latency_ms
    from .profile import profile

    b = load(board)
    with console.status("profiling in the emulator"):
        compiled = build(mod, target=f"stm32dvfs-{board}", params=params, model_name=model.stem)
        measured = profile(compiled, b, max_granularities=granularities, cycle_model=cycle_model)
    problem = plan_problem(measured, b, latency_ms, period_ms)
    fastest = minimum_latency_ms(problem)
    if fastest > latency_ms:
        from .errors import InfeasibleBudgetError

        raise InfeasibleBudgetError(f"--latency-ms {latency_ms:g} is below the minimum achievable latency "
                                    f"{fastest:.3f} ms of {problem.name}; raise it to at least {fastest:.3f}")
    budgets = [(fastest + (latency_ms - fastest) * i / (pareto - 1)) * 1000 for i in range(pareto)]
    with console.status(f"solving {pareto} budgets"):
        plans = pareto_front(problem, budgets, method)
    console.print(pareto_table(plans, title=f"{model.name} on {board}: energy vs latency budget"))
    if plot is not None:
        plot_pareto(plans, plot, f"{model.stem} on {board}")
        console.print(f"plot: {plot}")


@app.command("calibrate")
@_one_line_errors
def calibrate_cmd(
    measured: Path = typer.Argument(..., help="CSV of cycles measured per layer and phase "
                                    "(layer,phase,hz,wait_states,cycles), e.g. from the profiling firmware"),
    model: Path = typer.Option(..., "--model", help="the model the measurements ran (.onnx or .tflite)"),
    board: str = typer.Option("stm32f746g-disco", "--board", help="board the measurements come from"),
    dae: bool = typer.Option(True, "--dae/--no-dae", help="how the measured firmware was compiled"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="write the fitted cycle model (TOML) "
                                          "for profile --cycle-model"),
    shape: Optional[list[str]] = typer.Option(None, "--shape", help=SHAPE_HELP),
) -> None:
    """Fit the cycle model's CPIs and flash miss cost to cycles measured on a real board."""
    from .driver import build
    from .boards import load
    from .sim.calibrate import calibrate, read_measurements, write_cycle_model

    rows = read_measurements(measured)
    b = load(board)
    mod, params = _load(model, shape)
    compiled = build(mod, target=f"stm32dvfs-{b.name}", params=params, model_name=model.stem, dae=dae)
    with console.status("emulating the model for its instruction counts"):
        fitted, before, after = calibrate(compiled, b, rows)
    _print_calibration(b, fitted, before, after, f"{len(rows)} measured phases ({measured.name})")
    if output is not None:
        write_cycle_model(fitted, output, measured.name)
        console.print(f"written: {output}")


def _print_calibration(board, fitted, before: float, after: float, what: str) -> None:
    from rich.table import Table

    from .sim.cycles import load_cycle_model

    prior = load_cycle_model(board.core)
    table = Table(title=f"{board.core} cycle model fitted to {what}")
    for col in ("coefficient", "bundled", "fitted"):
        table.add_column(col, justify="left" if col == "coefficient" else "right")
    for name in prior.cpi:
        table.add_row(f"CPI {name}", f"{prior.cpi[name]:.3f}", f"{fitted.cpi[name]:.3f}")
    table.add_row("flash data hit rate", f"{prior.flash_data_hit_rate:.3f}", f"{fitted.flash_data_hit_rate:.3f}")
    console.print(table)
    console.print(f"worst relative error over the measurements: bundled {before:.1%}, fitted {after:.1%}")


@app.command("run")
@_one_line_errors
def run_cmd(
    model: Path = typer.Argument(..., help=MODEL_HELP),
    board: str = typer.Option("stm32f746g-disco", "--board", help="the board attached (or emulated by --platform "
                              "qemu)"),
    latency_ms: Optional[float] = typer.Option(None, "--latency-ms", help="plan the clocks within this budget "
                                               "(ms); without it every layer runs at the board's fastest state"),
    port: Optional[str] = typer.Option(None, "--port", help="the board's serial port (its ST-LINK virtual COM "
                                       "port, e.g. /dev/ttyACM0)"),
    probe: Optional[str] = typer.Option(None, "--probe", help="flashing tool: openocd, pyocd or st-flash "
                                        "(default: the first installed)"),
    inputs: int = typer.Option(3, "--inputs", min=1, help="inferences to run, on seeded random inputs (the "
                               "first is the sample input calibrate emulates)"),
    inputs_file: Optional[Path] = typer.Option(None, "--inputs-file", help=".npz of real inputs in place of the "
                                               "random ones: one array per model input (by name), N x its shape"),
    outputs_file: Optional[Path] = typer.Option(None, "--outputs-file", help="write the board's outputs (.npz: "
                                                "output0, output1, ... each N x the output's shape)"),
    profile: bool = typer.Option(False, "--profile", help="a profiling build: cycles per layer and phase come "
                                 "back with every answer"),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="write the cycles of the first inference as the "
                                           "CSV stm32dvfs calibrate reads (implies --profile)"),
    calibrate_out: Optional[Path] = typer.Option(None, "--calibrate", help="fit the cycle model to the cycles "
                                                 "measured and write it (TOML) for plan/profile --cycle-model "
                                                 "(implies --profile)"),
    platform: str = typer.Option("board", "--platform", help="board, or qemu: the project's QEMU build in "
                                 "place of a board, over the same serial protocol"),
    flash_firmware: bool = typer.Option(True, "--flash/--no-flash", help="--no-flash: the board already runs this "
                                        "model's firmware from an earlier run (same options): no build, no flash"),
    timeout_s: float = typer.Option(60.0, "--timeout", help="seconds to wait for each answer"),
    shape: Optional[list[str]] = typer.Option(None, "--shape", help=SHAPE_HELP),
) -> None:
    """Build, flash and run the model on a board over its serial port; compare with the host."""
    from rich.table import Table

    from .boards import load
    from .driver import build
    from .project.run import run_on_board
    from .sim.calibrate import calibrate, write_cycle_model

    profile = profile or csv_out is not None or calibrate_out is not None
    b = load(board)
    mod, params = _load(model, shape)
    with console.status("compiling" + (" and planning" if latency_ms is not None else "")) as status:
        compiled = build(mod, target=f"stm32dvfs-{b.name}", params=params, model_name=model.stem,
                         latency_ms=latency_ms)
        if latency_ms is None:  # a known clock, which the profiling CSV names
            compiled = compiled.at_clock_state(b.max_state().id)
        if inputs_file is not None:
            from .evaluate.validate import inputs_from_file, source_model

            xs = inputs_from_file(compiled, source_model(model), inputs_file)
            if not xs:
                raise Stm32DvfsError(f"{inputs_file} holds no samples")
        else:
            xs = [compiled.sample_inputs(seed=i) for i in range(inputs)]
        run = run_on_board(compiled, xs, port=port, probe=probe, platform=platform, profile=profile,
                           flash_firmware=flash_firmware, timeout_s=timeout_s, progress=status.update)
    flashed = f"flashed with {run.probe}" if run.probe else "flashed before"
    where = f"QEMU ({run.port})" if run.platform == "qemu" else f"{b.name} on {run.port} ({flashed})"
    table = Table(title=f"{model.name} on {where}")
    for col in ("input", "status", "clock switches", "outputs = host build") + (("cycles",) if profile else ()):
        table.add_column(col, justify="right")
    for i, (st, switches, same) in enumerate(zip(run.status, run.clock_switches, run.matches_host)):
        cells = [str(i), str(st), str(switches), "yes" if same else "NO"]
        if profile:
            cells.append(f"{sum(r.cycles for r in run.measurements(i)):,.0f}")
        table.add_row(*cells)
    console.print(table)
    if not run.ok:  # a wrong firmware's cycles are no calibration: nothing is written
        err_console.print(f"error: input(s) {', '.join(map(str, run.failed))}: the firmware's status is not 0 or its "
                          "outputs differ from the host build; no CSV or cycle model written",
                          markup=False, highlight=False)
        raise typer.Exit(1)
    fitted = None
    if calibrate_out is not None:
        rows = run.measurements(0)
        with console.status("emulating the model for its instruction counts"):
            fitted, before, after = calibrate(compiled, b, rows, inputs=xs[0])
        _print_calibration(b, fitted, before, after, f"{len(rows)} phases run on {where}")
    if csv_out is not None:
        run.write_csv(csv_out)
        console.print(f"written: {csv_out}")
    if fitted is not None:
        write_cycle_model(fitted, calibrate_out, f"stm32dvfs run of {model.name} on {where}")
        console.print(f"written: {calibrate_out}")
    if outputs_file is not None:
        import io

        import numpy as np

        from .files import write_bytes_atomically

        buffer = io.BytesIO()
        np.savez(buffer, **{f"output{k}": np.stack([outs[k] for outs in run.outputs])
                            for k in range(len(run.outputs[0]))})
        write_bytes_atomically(outputs_file, buffer.getvalue())
        console.print(f"written: {outputs_file}")


@app.command("boards")
@_one_line_errors
def boards_cmd() -> None:
    """List the known boards."""
    from .boards.report import boards_table

    console.print(boards_table())


@app.command("clocks")
@_one_line_errors
def clocks_cmd(
    board: Optional[str] = typer.Argument(None, help="board name (see `stm32dvfs boards`)"),
    board_file: Optional[Path] = typer.Option(None, "--board-file", help="your own board TOML"),
) -> None:
    """List the DVFS states of a board."""
    from .boards import load
    from .boards.report import clocks_table

    if board_file is not None:
        b = load(board_file)
    else:
        b = load(board or "stm32f746g-disco")
    console.print(clocks_table(b))


@app.command("evaluate")
@_one_line_errors
def evaluate_cmd(
    model: Optional[Path] = typer.Argument(None, help=MODEL_HELP + "; omit with --all"),
    board: str = typer.Option("stm32f746g-disco", "--board", help="target board"),
    all_: bool = typer.Option(False, "--all", help="every bundled int8 model on every board"),
    qos: str = typer.Option("1,1.1,1.25,1.5,2,3", "--qos", help="QoS levels: latency budgets as multiples of the "
                            "baseline's latency (plain kernels at the fastest clock), comma-separated, each >= 1 "
                            "(the period equals the budget)"),
    method: str = typer.Option(DEFAULT_SOLVER, "--method", help="solver of the DAE+DVFS plan: dp, exact (label search over "
                               "exact times) or z3 (proves the exact plan optimal; slow on whole models, see "
                               "docs/optimizer.md)"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="write one row per (policy, QoS level)"),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="the same rows as CSV"),
    plots: Optional[Path] = typer.Option(None, "--plots", help="directory for the energy-vs-QoS plot and the clock "
                                         "timeline of the DAE+DVFS plan, per model and board"),
    plot_format: str = typer.Option("png", "--format", help="plot format: png or svg"),
    sensitivity: bool = typer.Option(False, "--sensitivity", help="also the saving with the flash penalty and "
                                     "the power coefficients perturbed by +-20%"),
    emulate: bool = typer.Option(True, "--emulate/--predict", help="run every plan's firmware in the emulator "
                                 "(--predict: report the optimizer's predictions only)"),
    shape: Optional[list[str]] = typer.Option(None, "--shape", help=SHAPE_HELP),
    project: Optional[Path] = typer.Option(None, "--project", help="write the firmware project of the DAE+DVFS "
                                           "plan at the loosest QoS level evaluated (one MODEL)"),
) -> None:
    """Energy per period of TinyEngine-style deployment and of DVFS policies, per QoS level."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .boards import known_boards, load
    from .evaluate.energy import write_csv, write_json

    if method not in ("dp", "exact", "z3"):
        raise Stm32DvfsError(f"unknown --method {method!r}: use dp, exact or z3")
    levels = _qos_levels(qos)
    if plot_format not in ("png", "svg"):
        raise Stm32DvfsError(f"unknown --format {plot_format!r}: use png or svg")
    if all_ == (model is not None):
        raise Stm32DvfsError("give a MODEL or --all (every bundled int8 model on every board), not both")
    if all_ and shape:
        raise Stm32DvfsError("--shape applies to a MODEL, not to --all (the bundled models have static shapes)")
    if all_ and project is not None:
        raise Stm32DvfsError("--project writes one model's firmware: give a MODEL, not --all")
    if project is not None and not emulate:
        raise Stm32DvfsError("--project exports the plan the emulator ran: drop --predict")
    if all_:
        from .models.zoo import ZOO

        work = [(entry.int8_path, b) for entry in ZOO.values() for b in known_boards()]
    else:
        load(board)  # a bad board name fails before anything runs
        work = [(model, board)]
    rows = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console,
                  transient=True) as progress:
        task = progress.add_task("starting", total=None)
        for path, board_name in work:
            rows += _evaluate_one(path, load(board_name), shape, levels, method, emulate, project, sensitivity,
                                  plots, plot_format, lambda text: progress.update(task, description=text))
    if json_path is not None:
        write_json(rows, json_path)
    if csv_path is not None:
        write_csv(rows, csv_path)
    _print_savings(rows)
    if project is not None:
        console.print(f"firmware project of the DAE+DVFS plan: {project} (README.md there says how to build)")


def _evaluate_one(path: Path, board, shape, levels, method: str, emulate: bool, project: Optional[Path],
                  sensitivity: bool, plots: Optional[Path], plot_format: str, say: Callable[[str], None]) -> list:
    """``evaluate`` of one model on one board: its table printed, and as asked its firmware
    project, sensitivity table and plots written; returns its rows."""
    from .driver import build
    from .evaluate.energy import evaluate_policies
    from .evaluate.energy import sensitivity as sensitivity_rows
    from .evaluate.report import evaluation_table, plot_energy_vs_qos, plot_timeline, sensitivity_table
    from .profile import profile

    where = f"{path.stem} on {board.name}"
    say(f"{where}: profiling in the emulator")
    mod, params = _load(path, shape)
    compiled = build(mod, target=f"stm32dvfs-{board.name}", params=params, model_name=path.stem)
    measured = profile(compiled, board)
    found = evaluate_policies(compiled, board, measured, qos=levels, method=method, emulate_runs=emulate,
                              progress=say)
    console.print(evaluation_table(found, title=f"{where}: energy per period"))
    if project is not None:
        mine = [r for r in found if r.policy == "dae_dvfs" and r.feasible]
        if not mine:
            raise Stm32DvfsError(f"no QoS level of {path.stem} has a DAE+DVFS plan: no project to write")
        say(f"{path.stem}: writing the firmware project")
        compiled.with_plan(mine[-1].plan).export_project(project)
    if sensitivity:
        say(f"{where}: sensitivity")
        budgets = sorted({r.budget_ms for r in found})
        console.print(sensitivity_table(sensitivity_rows(measured, board, budgets),
                                        title=f"{where}: predicted saving of (e) under perturbed coefficients"))
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
        stem = f"{path.stem}_{board.name}"
        plot_energy_vs_qos(found, plots / f"energy_{stem}.{plot_format}", where)
        chosen = _timeline_row(found)
        if chosen is not None:
            plot_timeline(chosen, plots / f"timeline_{stem}.{plot_format}",
                          f"{where}: DAE+DVFS plan within {chosen.budget_ms:.2f} ms")
    return found


def _print_savings(rows) -> None:
    """The saving of (e) against TinyEngine + sleep: per level where one level was evaluated,
    else per model and board over the levels."""
    from .evaluate.energy import summaries

    for r in rows:
        if r.policy == "dae_dvfs" and r.feasible and r.saving_vs_tinyengine_sleep is not None \
                and len({q.budget_ms for q in rows if (q.model, q.board) == (r.model, r.board)}) == 1:
            b = next(q for q in rows if (q.model, q.board, q.budget_ms, q.policy) ==
                     (r.model, r.board, r.budget_ms, "tinyengine_sleep"))
            console.print(f"{r.model} on {r.board}, budget {r.budget_ms:.2f} ms = "
                          f"{'-' if r.qos is None else format(r.qos, '.3g')}x the baseline's "
                          f"latency, energy per period: TinyEngine + sleep {b.energy_uj:,.1f} uJ, DAE + DVFS "
                          f"{r.energy_uj:,.1f} uJ: {r.saving_vs_tinyengine_sleep:.1f} % less (kernels "
                          f"{_f(r.kernel_effect)} %, DVFS {_f(r.dvfs_effect)} %)")
    for m in summaries(rows):
        if m.levels_vs_tinyengine_sleep == 1:
            continue  # said above
        if m.levels_vs_tinyengine_sleep:
            console.print(f"{m.model} on {m.board}: DAE+DVFS saves {m.max_vs_tinyengine_sleep:.1f} % (best level), "
                          f"{m.mean_vs_tinyengine_sleep:.1f} % (mean over {m.levels_vs_tinyengine_sleep} levels) of "
                          f"TinyEngine+sleep/stop's energy; the kernels {_f(m.mean_kernel_effect)} %, DVFS "
                          f"{_f(m.mean_dvfs_effect)} % (means)")
        else:
            console.print(f"{m.model} on {m.board}: TinyEngine meets none of the budgets evaluated")


def _f(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def _qos_levels(text: str) -> list[float]:
    try:
        levels = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        levels = []
    if not levels or any(not (q >= 1.0) for q in levels):
        raise Stm32DvfsError(f"--qos {text!r}: give multiples of the baseline's latency, each >= 1, comma-separated "
                             "(e.g. --qos 1,1.25,2)")
    return levels


def _timeline_row(rows):
    """The DAE+DVFS plan of the middle QoS level (what the timeline plot shows)."""
    mine = [r for r in rows if r.policy == "dae_dvfs" and r.feasible and r.spans]
    return mine[len(mine) // 2] if mine else None


def main(argv: Optional[list[str]] = None) -> int:
    """Console-script entry point.

    TVM's C++ log lines (``Warning: BlockBuilder destroyed with remaining blocks!`` after an
    import error, pass warnings) go to file descriptor 2 and are not for the user: they are sent to
    a temporary file, unless STM32DVFS_TVM_LOG=1, while Python's stderr (our one-line errors,
    progress, a bug's traceback) keeps the terminal.
    """
    if os.environ.get("STM32DVFS_TVM_LOG") == "1":
        return _run(argv)
    sys.stderr.flush()
    terminal = os.dup(2)
    saved_stderr = sys.stderr
    with tempfile.TemporaryFile() as tvm_log:
        os.dup2(tvm_log.fileno(), 2)
        sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1)
        try:
            return _run(argv)
        finally:
            sys.stderr.flush()
            sys.stderr.close()
            os.dup2(terminal, 2)
            os.close(terminal)
            sys.stderr = saved_stderr


def _run(argv: Optional[list[str]]) -> int:
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
