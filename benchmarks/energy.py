"""Regenerate benchmarks/RESULTS.md: energy per period of every policy, every bundled int8 model on
every board, at 8 QoS levels (budget = period from the fastest achievable latency to 3x it).

    .venv/bin/python benchmarks/energy.py                   # everything (about an hour on 2 cores)
    .venv/bin/python benchmarks/energy.py --models kws_dscnn_int8 --boards stm32f746g-disco --out F

Every figure comes from this run: emulated firmware of each plan, the board data and the cycle
model; nothing is typed in. The sensitivity tables (flash penalty, run and sleep/stop power
+-20 %) are computed for the default board only (predictions, re-solved per perturbation).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tvm_stm32dvfs import build, from_onnx  # noqa: E402
from tvm_stm32dvfs.boards import known_boards, load  # noqa: E402
from tvm_stm32dvfs.evaluate.energy import (POLICIES, POLICY_LABELS, board_summaries, evaluate_policies,  # noqa: E402
                                           sensitivity)
from tvm_stm32dvfs.models.zoo import ZOO  # noqa: E402
from tvm_stm32dvfs.profile import profile  # noqa: E402
from tvm_stm32dvfs.report import plot_energy_vs_qos, plot_timeline  # noqa: E402

DEFAULT_BOARD = "stm32f746g-disco"


def _f(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def section(model: str, board: str, rows, sens, skipped=()) -> str:
    """The markdown of one model on one board (what the freshness test compares)."""
    out = [f"## {model} on {board}", ""]
    for option in skipped:
        out += [f"Left out of the profile (the firmware does not fit the RAM): DAE tiles {option}", ""]
    out.append("| budget = period ms | policy | latency ms (emulated) | predicted ms | energy uJ (emulated) | "
               "predicted uJ | saving vs (a) % | saving vs (b) % | idle | states |")
    out.append("|---:|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        if not r.feasible:
            out.append(f"| {r.budget_ms:.3f} | {r.policy} | {r.note} | | | | | | | |")
            continue
        out.append(f"| {r.budget_ms:.3f} | {r.policy} | {r.latency_ms:.3f} | {r.predicted_latency_ms:.3f} | "
                   f"{r.energy_uj:,.1f} | {r.predicted_energy_uj:,.1f} | {_f(r.saving_vs_tinyengine, '.1f')} | "
                   f"{_f(r.saving_vs_tinyengine_sleep, '.1f')} | {r.idle_mode} | {' '.join(r.states)} |")
    out.append("")
    out.append("| budget ms | LP lower bound uJ | (e) uJ | (e)'s gap to the bound % | (e) vs DAE at max clock % |")
    out.append("|---:|---:|---:|---:|---:|")
    for r in rows:
        if r.policy == "dae_dvfs" and r.feasible:
            out.append(f"| {r.budget_ms:.3f} | {_f(r.lower_bound_uj, ',.1f')} | {r.energy_uj:,.1f} | "
                       f"{_f(r.gap_to_bound, '.2f')} | {_f(r.saving_vs_dae_race, '.1f')} |")
    missed = [r for r in rows if r.feasible and not r.meets_budget]
    out.append("")
    out.append(f"Plans over budget in the emulated run: {len(missed)}; largest |emulated - predicted| latency: "
               f"{max((abs(r.latency_ms - r.predicted_latency_ms) for r in rows if r.feasible), default=0):.4f} ms.")
    if sens:
        out += ["", f"Sensitivity (predicted, plans re-solved under each perturbation):", "",
                "| perturbation | budget ms | (e) uJ | (b) uJ | saving vs (a) % | saving vs (b) % |",
                "|---|---:|---:|---:|---:|---:|"]
        for s in sens:
            out.append(f"| {s.perturbation} | {s.budget_ms:.3f} | {_f(s.dae_dvfs_uj, ',.1f')} | "
                       f"{_f(s.tinyengine_sleep_uj, ',.1f')} | {_f(s.saving_vs_tinyengine, '.1f')} | "
                       f"{_f(s.saving_vs_tinyengine_sleep, '.1f')} |")
    out.append("")
    return "\n".join(out)


def summary(all_rows) -> str:
    out = ["## Summary: saving of (e) DAE + per-phase DVFS", "",
           "| board | levels where (b) meets the budget | max saving vs (b) % | mean saving vs (b) % | "
           "max saving vs (a) % | mean saving of (e) vs DAE at max clock % |",
           "|---|---:|---:|---:|---:|---:|"]
    for b in board_summaries(all_rows):
        out.append(f"| {b.board} | {b.levels_vs_tinyengine_sleep} | {_f(b.max_vs_tinyengine_sleep, '.1f')} | "
                   f"{_f(b.mean_vs_tinyengine_sleep, '.1f')} | {_f(b.max_vs_tinyengine, '.1f')} | "
                   f"{_f(b.mean_vs_dae_race, '.1f')} |")
    out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[f"{name}_int8" for name in ZOO])
    parser.add_argument("--boards", nargs="*", default=known_boards())
    parser.add_argument("--qos", type=int, default=8)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--plots", type=Path, default=None, help="plot directory (default: results/ next to --out)")
    args = parser.parse_args(argv)
    plots = args.plots or args.out.parent / "results"
    plots.mkdir(parents=True, exist_ok=True)
    sections, all_rows = [], []
    started = time.perf_counter()
    for model in args.models:
        path = Path(ZOO[model.removesuffix("_int8")].int8_path)
        mod, params = from_onnx(path)
        for board_name in args.boards:
            board = load(board_name)
            print(f"{model} on {board_name}: profiling", flush=True)
            compiled = build(mod, target=f"stm32dvfs-{board_name}", params=params, model_name=model)
            measured = profile(compiled, board)
            rows = evaluate_policies(compiled, board, measured, levels=args.qos, method="dp",
                                     progress=lambda text: print(text, flush=True))
            sens = sensitivity(measured, board, sorted({r.budget_ms for r in rows})) if board_name == DEFAULT_BOARD else []
            sections.append(section(model, board_name, rows, sens, measured.skipped))
            all_rows += rows
            stem = f"{model}_{board_name}"
            plot_energy_vs_qos(rows, plots / f"energy_{stem}.png", f"{model} on {board_name}")
            mine = [r for r in rows if r.policy == "dae_dvfs" and r.feasible]
            plot_timeline(mine[len(mine) // 2], plots / f"timeline_{stem}.png",
                          f"{model} on {board_name}: DAE+DVFS plan, {mine[len(mine) // 2].budget_ms:.2f} ms budget")
    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in
                         ("tvm-stm32dvfs", "apache-tvm", "z3-solver", "unicorn", "highspy"))
    command = "python benchmarks/energy.py" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(sys.argv[1:] if argv is None else argv))
    policies = "\n".join(f"- `{p}`: {POLICY_LABELS[p]}" for p in POLICIES)
    head = f"""# Energy per inference period: DAE + DVFS against TinyEngine-style deployment

Generated by `{command}` on {datetime.date.today().isoformat()} in {time.perf_counter() - started:.0f} s
({versions}). Do not edit: rerun the command. Energies are *modelled*: the instructions executed by
the emulated firmware of each plan (its clock driver following the plan), at the clock its registers
selected, plus the profile's flash reads of each kernel, priced with the cycle model and the board's
datasheet power (see docs/evaluate.md); the period equals the budget.

Policies:
{policies}

(e) is solved by the DP over discretised time (0.1-0.4 % above the exact optimum on the default
board at 1.3x the fastest latency: benchmarks/optimize.py; `--method exact` or `z3` of `stm32dvfs
evaluate` solve it exactly, at seconds per budget: docs/evaluate.md). Plots: `{plots.relative_to(args.out.parent) if plots.is_relative_to(args.out.parent) else plots}/`.

"""
    text = head + summary(all_rows) + "\n" + "\n".join(sections)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
