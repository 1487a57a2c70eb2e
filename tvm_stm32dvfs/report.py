"""Tables people read: the layer table of a compiled model."""

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
            layer.granularity or "-",
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
        table.add_row(str(layer.index), layer.name, layer.op, layer.granularity or "plain", layer.access_state,
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
