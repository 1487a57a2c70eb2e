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
