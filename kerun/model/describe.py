"""What a built model is made of: a table for ``kerun summary`` and a picture for ``kerun plot``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import keras

from kerun.errors import BuildError

__all__ = ["describe_model", "plot_model"]


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


def plot_model(model: keras.Model, output: Path, *, expand: bool = False) -> None:
    """``keras.utils.plot_model`` with shapes; a missing Graphviz is a clear message."""
    if output.suffix.lower() not in (".png", ".svg", ".pdf", ".dot"):
        raise BuildError(f"cannot draw to {output.name}: use .png, .svg, .pdf or .dot")
    if shutil.which("dot") is None and output.suffix.lower() != ".dot":
        raise BuildError(
            "drawing a model needs Graphviz's 'dot' program, which is not installed",
            hint="install it (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), or write .dot",
        )
    try:
        # model_to_dot and pydot's writer rather than plot_model, which tries to display the file
        # with IPython afterwards (and cannot for SVG).
        dot = keras.utils.model_to_dot(model, show_shapes=True, show_layer_names=True, expand_nested=expand, dpi=96)
        fmt = output.suffix.lower().lstrip(".")
        dot.write(str(output), format="raw" if fmt == "dot" else fmt)
    except ImportError as exc:
        raise BuildError(f"cannot draw the model: {exc}", hint="pip install pydot, and install Graphviz") from None
