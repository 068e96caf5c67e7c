"""What a built model is made of: a table for ``kerun summary`` and a picture for ``kerun plot``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import keras

from kerun.errors import BuildError

__all__ = ["describe_model", "model_dot", "plot_model"]


def _shape(layer: keras.layers.Layer) -> Any:
    try:
        out = layer.output
    except (AttributeError, ValueError):
        return None
    if isinstance(out, dict):
        return {k: list(v.shape) for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        return [list(t.shape) for t in out]
    return list(out.shape)


def _inputs(layer: keras.layers.Layer) -> list[str]:
    names: list[str] = []
    for node in getattr(layer, "_inbound_nodes", []):
        for tensor in keras.tree.flatten(node.input_tensors):
            history = getattr(tensor, "_keras_history", None)
            if history is not None:
                name = history[0].name
                if name not in names:
                    names.append(name)
    return names


def _rows(model: keras.Model, depth: int, expand: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    previous: str | None = None
    for layer in model.layers:
        inputs = _inputs(layer)
        if isinstance(model, keras.Sequential) and not inputs and previous:
            inputs = [previous]
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": _shape(layer),
                "params": int(layer.count_params()) if layer.built else 0,
                "trainable": bool(layer.trainable),
                "inputs": inputs,
                "depth": depth,
            }
        )
        previous = layer.name
        if expand and isinstance(layer, keras.Model):
            rows.extend(_rows(layer, depth + 1, expand))
    return rows


def describe_model(model: keras.Model, *, expand: bool = False) -> dict[str, Any]:
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    total = sum(int(keras.ops.size(w)) for w in model.weights)
    return {
        "name": model.name,
        "class": type(model).__name__,
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": total - trainable,
        "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)} for t in model.inputs],
        "outputs": [list(t.shape) for t in model.outputs],
        "layers": _rows(model, 0, expand),
    }


def _calls(model: keras.Model) -> list[tuple[Any, int, Any]]:
    """Every call in ``model``'s graph as (layer, node index, node), inputs first, in graph order:
    walked back from the outputs, so a layer called twice (``use:``) appears twice."""
    order: list[tuple[Any, int, Any]] = []
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Any, bool]] = [(t, False) for t in reversed(keras.tree.flatten(model.outputs))]
    while stack:
        tensor, expanded = stack.pop()
        op, index, _ = tensor._keras_history
        key = (id(op), index)
        if key in seen:
            continue
        node = op._inbound_nodes[index]
        parents = [t for t in keras.tree.flatten(node.input_tensors) if getattr(t, "_keras_history", None) is not None]
        if expanded or not parents:
            seen.add(key)
            order.append((op, index, node))
        else:
            stack.append((tensor, True))
            stack.extend((t, False) for t in reversed(parents))
    return order


def _shape_text(tensors: Any) -> str:
    shapes = [tuple(t.shape) for t in keras.tree.flatten(tensors)]
    text = ", ".join(str(s).replace("None", "?") for s in shapes)
    return text if len(shapes) == 1 else f"[{text}]"


def model_dot(model: keras.Model, *, dpi: int) -> Any:
    """A pydot graph with one box per call of a layer: name, class and output shape; a layer
    called again (``use:``) gets a box per call, numbered, drawn dashed after the first."""
    import pydot

    graph = pydot.Dot(graph_type="digraph", rankdir="TB", dpi=dpi, concentrate=False)
    graph.set_node_defaults(shape="box", style="rounded", fontname="Helvetica", fontsize="11")
    calls = _calls(model)
    counts: dict[int, int] = {}
    for op, _index, _node in calls:
        counts[id(op)] = counts.get(id(op), 0) + 1
    numbered: dict[int, int] = {}
    ids: dict[tuple[int, int], str] = {}
    for op, index, node in calls:
        nth = numbered[id(op)] = numbered.get(id(op), 0) + 1
        name = op.name if counts[id(op)] == 1 else f"{op.name} (call {nth} of {counts[id(op)]})"
        node_id = f"n{len(ids)}"
        ids[(id(op), index)] = node_id
        label = f"{name}\n{type(op).__name__}\n{_shape_text(node.output_tensors)}"
        graph.add_node(pydot.Node(node_id, label=label, style="rounded,dashed" if nth > 1 else "rounded"))
        for t in keras.tree.flatten(node.input_tensors):
            history = getattr(t, "_keras_history", None)
            if history is not None and (id(history[0]), history[1]) in ids:
                graph.add_edge(pydot.Edge(ids[(id(history[0]), history[1])], node_id))
    return graph


def plot_model(model: keras.Model, output: Path, *, expand: bool = False) -> None:
    """Draw the model's graph with shapes; a missing Graphviz is a clear message.

    SVG is drawn at 72 dpi, Graphviz's own unit: at any other dpi its ``width``/``height`` are
    scaled but its ``viewBox`` is not, and viewers clip the picture.
    """
    if output.suffix.lower() not in (".png", ".svg", ".pdf", ".dot"):
        raise BuildError(f"cannot draw to {output.name}: use .png, .svg, .pdf or .dot")
    if shutil.which("dot") is None and output.suffix.lower() != ".dot":
        raise BuildError(
            "drawing a model needs Graphviz's 'dot' program, which is not installed",
            hint="install it (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), or write .dot",
        )
    fmt = output.suffix.lower().lstrip(".")
    dpi = 96 if fmt == "png" else 72
    try:
        if expand:  # sub-models drawn inside as clusters: Keras's own drawing
            dot = keras.utils.model_to_dot(model, show_shapes=True, show_layer_names=True, expand_nested=True, dpi=dpi)
        else:
            dot = model_dot(model, dpi=dpi)
        # pydot's writer rather than plot_model, which tries to display the file with IPython
        dot.write(str(output), format="raw" if fmt == "dot" else fmt)
    except ImportError as exc:
        raise BuildError(f"cannot draw the model: {exc}", hint="pip install pydot, and install Graphviz") from None
