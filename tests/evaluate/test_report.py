"""The report: tables hold what the rows say, the plots are written as images."""

from __future__ import annotations

from rich.console import Console

import tvm_stm32dvfs
from tvm_stm32dvfs.evaluate.energy import POLICIES, evaluate_policies
from tvm_stm32dvfs.evaluate.report import evaluation_table, layer_table, plot_energy_vs_qos, plot_timeline
from tvm_stm32dvfs.profile import PhaseCost, Profile

BOARD = tvm_stm32dvfs.boards.load("stm32f746g-disco")


def _text(table) -> str:
    console = Console(record=True, width=250)
    console.print(table)
    return console.export_text()


def _profile() -> Profile:
    rows = []
    for layer, instructions in enumerate((3e5, 9e5)):
        for s in BOARD.candidate_states():
            rows.append(PhaseCost(layer, f"l{layer}", "plain", "plain", s.id, s.hz, int(instructions), 0,
                                  instructions, instructions / (s.hz / 1e6), BOARD.energy_uj(s, instructions)))
    return Profile(BOARD.name, "toy", tuple(rows))


def test_the_evaluation_table_has_a_row_per_policy_and_level_and_says_what_cannot_run(tmp_path):
    rows = evaluate_policies(None, BOARD, _profile(), qos=(1.0, 2.0), emulate_runs=False)
    text = _text(evaluation_table(rows))
    for policy in POLICIES:
        assert text.count(f" {policy} ") == 2, policy
    # no DAE tiles in this profile: the race of the DAE kernels has no plan at either level
    assert text.count("does not fit") + text.count("over budget") == sum(not r.feasible for r in rows)
    e = next(r for r in rows if r.policy == "dae_dvfs" and r.budget_ms == max(x.budget_ms for x in rows))
    assert f"{e.energy_uj:,.1f}" in text
    plot_energy_vs_qos(rows, tmp_path / "energy.png", "toy")
    plot_timeline(e, tmp_path / "timeline.svg", "toy")
    assert (tmp_path / "energy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "timeline.svg").read_bytes()


def test_the_layer_table_lists_every_layer_with_its_figures():
    from tvm_stm32dvfs.models.zoo import ZOO

    mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].int8_path)
    compiled = tvm_stm32dvfs.build(mod, params=params)
    text = _text(layer_table(compiled))
    for layer in compiled.layers:
        assert f"{layer.macs:,}" in text and layer.name in text
        assert (layer.granularity if layer.decoupled else "-") in text
    assert f"arena {compiled.arena_bytes:,}" in text
