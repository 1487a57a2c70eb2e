"""Tables and plots people read: layers, plans, Pareto fronts, the policy evaluation."""

from __future__ import annotations

from rich.table import Table


def _shape(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def layer_table(compiled, title: str | None = None) -> Table:
    """Fused operators in execution order with MACs and memory figures."""
    table = Table(title=title, show_footer=True)
    table.add_column("#", justify="right")
    table.add_column("layer", footer="total")
    table.add_column("op")
    table.add_column("input")
    table.add_column("output")
    table.add_column("MACs", justify="right", footer=f"{compiled.macs:,}")
    table.add_column("weights B", justify="right", footer=f"{compiled.weights_bytes:,}")
    table.add_column("activations B", justify="right", footer=f"arena {compiled.arena_bytes:,}")
    table.add_column("DAE tile")
    for layer in compiled.layers:
        table.add_row(
            str(layer.index),
            layer.name,
            layer.op,
            ", ".join(_shape(s) for s in layer.input_shapes),
            ", ".join(_shape(s) for s in layer.output_shapes),
            f"{layer.macs:,}",
            f"{layer.weight_bytes:,}",
            f"{layer.activation_bytes:,}",
            layer.granularity if layer.decoupled else "-",
        )
    return table


def plan_table(compiled, title: str | None = None) -> Table:
    """Per layer the planned tile and clock states, with the plan's predicted figures."""
    plan = compiled.plan
    table = Table(title=title, show_footer=True)
    table.add_column("#", justify="right")
    table.add_column("layer", footer="predicted")
    table.add_column("op")
    table.add_column("DAE tile")
    table.add_column("access state", footer=f"{plan.predicted_latency_ms:.3f} ms")
    table.add_column("execute state", footer=f"{plan.predicted_energy_uj:,.1f} uJ / period")
    table.add_column("time us", justify="right")
    table.add_column("energy uJ", justify="right")
    for layer, choice in zip(compiled.layers, plan.choices):
        table.add_row(str(layer.index), layer.name, layer.op, layer.granularity, layer.access_state,
                      layer.execute_state if layer.execute_state != layer.access_state else "=",
                      f"{choice.time_us:,.1f}", f"{choice.energy_uj:,.2f}")
    return table


def pareto_table(plans, title: str | None = None) -> Table:
    table = Table(title=title)
    for col in ("budget ms", "latency ms", "energy uJ / period", "idle", "optimal"):
        table.add_column(col, justify="right")
    for p in plans:
        table.add_row(f"{p.budget_ms:.3f}", f"{p.predicted_latency_ms:.3f}", f"{p.predicted_energy_uj:,.1f}",
                      p.idle_mode, "yes" if p.optimal else "-")
    return table


def plot_pareto(plans, path, title: str) -> None:
    """Energy per period against the latency budget (and the plans' predicted latencies)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.step([p.budget_ms for p in plans], [p.predicted_energy_uj for p in plans], where="post",
            label="minimum energy within the budget")
    ax.scatter([p.predicted_latency_ms for p in plans], [p.predicted_energy_uj for p in plans], s=12,
               color="C1", label="plan's predicted latency", zorder=3)
    ax.set_xlabel("latency budget (ms)")
    ax.set_ylabel(f"energy per period of {plans[0].period_ms:.2f} ms (uJ)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def evaluation_table(rows, title: str | None = None) -> Table:
    """Policy x QoS: emulated latency and energy per period, the prediction, savings, LP bound."""
    table = Table(title=title)
    for col in ("budget ms", "policy", "latency ms", "predicted ms", "energy uJ", "predicted uJ", "vs (a) %",
                "vs (b) %", "idle", "LP bound uJ", "gap %"):
        table.add_column(col, justify="left" if col in ("policy", "idle") else "right")
    last = None
    for r in rows:
        if last is not None and r.budget_ms != last:
            table.add_section()
        last = r.budget_ms
        if not r.feasible:
            table.add_row(f"{r.budget_ms:.3f}", r.policy, r.note, "", "", "", "", "", "", "", "")
            continue
        table.add_row(f"{r.budget_ms:.3f}", r.policy, f"{r.latency_ms:.3f}" + ("" if r.meets_budget else " (!)"),
                      f"{r.predicted_latency_ms:.3f}", f"{r.energy_uj:,.1f}", f"{r.predicted_energy_uj:,.1f}",
                      _fmt(r.saving_vs_tinyengine, ".1f"), _fmt(r.saving_vs_tinyengine_sleep, ".1f"), r.idle_mode,
                      _fmt(r.lower_bound_uj, ",.1f"), _fmt(r.gap_to_bound, ".2f") if r.policy == "dae_dvfs" else "")
    return table


def sensitivity_table(rows, title: str | None = None) -> Table:
    table = Table(title=title)
    for col in ("perturbation", "budget ms", "(e) uJ", "(b) uJ", "saving vs (a) %", "saving vs (b) %"):
        table.add_column(col, justify="left" if col == "perturbation" else "right")
    for r in rows:
        table.add_row(r.perturbation, f"{r.budget_ms:.3f}", _fmt(r.dae_dvfs_uj, ",.1f"),
                      _fmt(r.tinyengine_sleep_uj, ",.1f"), _fmt(r.saving_vs_tinyengine, ".1f"),
                      _fmt(r.saving_vs_tinyengine_sleep, ".1f"))
    return table


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_energy_vs_qos(rows, path, title: str) -> None:
    """Emulated energy per period against the latency budget, one line per policy."""
    from .energy import POLICIES, POLICY_LABELS

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, policy in enumerate(POLICIES):
        points = [(r.budget_ms, r.energy_uj) for r in rows if r.policy == policy and r.feasible]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", ms=3, label=POLICY_LABELS[policy], color=f"C{i}",
                    linestyle="--" if policy == "dae_race" else "-")
    bounds = sorted({(r.budget_ms, r.lower_bound_uj) for r in rows if r.lower_bound_uj is not None})
    if bounds:
        xs, ys = zip(*bounds)
        ax.plot(xs, ys, color="k", linestyle=":", label="LP lower bound")
    ax.set_xlabel("latency budget = period (ms)")
    ax.set_ylabel("energy per period (uJ, emulated)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_timeline(row, path, title: str) -> None:
    """The clock of every layer phase of one evaluated plan, in execution order (a decoupled
    layer's access and execute tiles alternate; each phase is drawn as its total time)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    t = 0.0
    colors = {"access": "C1", "dma": "C3", "execute": "C0", "plain": "C2"}
    seen = set()
    for span in row.spans:
        label = span.phase if span.phase not in seen else None
        seen.add(span.phase)
        ax.barh(span.mhz, span.time_us / 1000, left=t / 1000, height=span.mhz * 0.06, color=colors[span.phase],
                label=label)
        t += span.time_us
    ax.axvline(row.budget_ms, color="k", linestyle=":", label="budget")
    ax.set_ylim(0, max((s.mhz for s in row.spans), default=1) * 1.15)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("SYSCLK (MHz)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
