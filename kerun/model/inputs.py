"""How an entry's ``inputs:`` reach its layer's ``call``: one tensor, one list, or several tensors.

Keras has two conventions. Merge layers (``Add``, ``Concatenate``) and ``Attention`` take ONE
argument, a list: ``Add()([a, b])``. Layers whose ``call`` takes several tensor arguments
(``MultiHeadAttention.call(query, value, key=None)``) are called with them one by one:
``mha(q, v)``. A list in the spec follows the layer: several required tensor arguments take the
list positionally, a single one takes it whole. The mapping form ``{query: q, value: v}`` passes
keywords and works for both.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["call_layer", "check_keywords", "tensor_parameters"]

# Arguments of ``call`` that are never tensors of the graph.
_NOT_TENSORS = {"training", "mask", "return_attention_scores", "use_causal_mask"}


def tensor_parameters(layer: Any) -> tuple[list[str], list[str]]:
    """(required, optional) positional parameter names of ``layer.call`` that take tensors."""
    try:
        sig = inspect.signature(layer.call)
    except (TypeError, ValueError):
        return ["inputs"], []
    required: list[str] = []
    optional: list[str] = []
    for p in sig.parameters.values():
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or p.name in _NOT_TENSORS:
            continue
        if p.name.endswith("_mask"):
            continue
        (required if p.default is p.empty else optional).append(p.name)
    return required, optional


def _forms(name: str, required: list[str], optional: list[str]) -> str:
    refs = ", ".join(f"<{p}>" for p in required)
    keys = ", ".join(f"{p}: <{p}>" for p in required)
    more = f" (then {', '.join(optional)})" if optional else ""
    return (f"{name} takes {len(required)} tensors, {', '.join(required)}{more}: "
            f"write inputs: [{refs}] (in that order) or inputs: {{{keys}}}")


def call_layer(layer: Any, x: Any) -> Any:
    """``layer(x)``, or ``layer(*x)`` when ``x`` is a list and ``call`` takes several tensors."""
    required, optional = tensor_parameters(layer)
    name = type(layer).__name__
    if len(required) < 2:
        return layer(x)
    if not isinstance(x, list):
        raise TypeError(_forms(name, required, optional))
    if not len(required) <= len(x) <= len(required) + len(optional):
        raise TypeError(f"{len(x)} inputs given; " + _forms(name, required, optional))
    return layer(*x)


def check_keywords(layer: Any, kwargs: dict[str, Any]) -> None:
    """The mapping form names every required tensor argument of ``call`` and nothing else."""
    required, optional = tensor_parameters(layer)
    name = type(layer).__name__
    try:
        params = inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return
    open_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = [k for k in kwargs if k not in params and not open_kwargs]
    missing = [p for p in required if p not in kwargs]
    if not unknown and not missing:
        return
    what = f"no argument {unknown[0]!r}" if unknown else f"the argument {missing[0]!r} is missing"
    if len(required) < 2:
        raise TypeError(f"{name}.call has {what}; it takes one argument, "
                        f"{required[0] if required else 'inputs'}: write inputs: [<a>, <b>] for a list, or inputs: <a>")
    raise TypeError(f"{name}.call has {what}; " + _forms(name, required, optional))
