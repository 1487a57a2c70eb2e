"""profile(): every layer x granularity x phase x candidate state, from one emulation per build."""

from __future__ import annotations

import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.profile import Profile, profile


@pytest.mark.emulator
def test_profile_covers_every_layer_granularity_phase_and_state(int8_model, tmp_path, monkeypatch):
    monkeypatch.setenv("STM32DVFS_CACHE_DIR", str(tmp_path))
    board = tvm_stm32dvfs.boards.load("stm32f746g-disco")
    compiled = tvm_stm32dvfs.build(int8_model)
    calls = []
    prof = profile(compiled, board, max_granularities=2, progress=lambda d, t: calls.append((d, t)))
    states = {s.id for s in board.candidate_states()}
    assert {r.state for r in prof.rows} == states
    assert calls[-1][0] == calls[-1][1] >= 3  # plain build + two granularity builds
    decoupled = [i for i, layer in enumerate(compiled.layers) if layer.decoupled]
    for layer in range(len(compiled.layers)):
        options = prof.layer_options(layer)
        assert "plain" in options
        if layer in decoupled:
            assert len(options) >= 2
            phases = {r.phase for r in prof.rows if r.layer == layer and r.granularity != "plain"}
            assert phases == {"access", "execute"}
            # a decoupled layer starts in access and ends in execute: an odd number of changes
            assert all(r.switches % 2 == 1 for r in prof.rows if r.layer == layer and r.granularity != "plain")
        assert all(r.switches == 0 for r in prof.rows if r.layer == layer and r.granularity == "plain")
    # per (layer, granularity, phase): the same instructions at every state, faster at higher clocks
    groups = {}
    for r in prof.rows:
        groups.setdefault((r.layer, r.granularity, r.phase), []).append(r)
    for rows in groups.values():
        assert len({r.instructions for r in rows}) == 1
        rows.sort(key=lambda r: r.hz)
        assert all(b.time_us < a.time_us for a, b in zip(rows, rows[1:]))
        assert all(r.energy_uj > 0 and r.cycles >= r.instructions * 0.5 for r in rows)
    # cached by content: the second call reads the file
    again = profile(compiled, board, max_granularities=2)
    assert again == prof and list(tmp_path.glob("profiles/*.json"))
    csv_path = tmp_path / "p.csv"
    prof.write_csv(csv_path)
    assert csv_path.read_text().count("\n") == len(prof.rows) + 1
    assert Profile.from_json(prof.to_json()) == prof
