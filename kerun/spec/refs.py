"""The vocabulary every layer shares when it reads a spec: references between entries, the kind of
Keras object an argument takes, and the words messages use for each kind.

Defined once here (it lived in the validator, :mod:`kerun.spec.check`, and the model builder and
the importer reached into it); TensorFlow-free like the rest of :mod:`kerun.spec`.
"""

from __future__ import annotations

import re

__all__ = ["ARG_KINDS", "KIND_WORDS", "MODEL_ARG_KEYS", "argument_kind", "model_arg_refs", "split_ref"]

KIND_WORDS = {
    "layer": "layer type",
    "optimizer": "optimizer",
    "loss": "loss",
    "metric": "metric",
    "callback": "callback",
    "initializer": "initializer",
    "regularizer": "regularizer",
    "constraint": "constraint",
    "schedule": "learning-rate schedule",
    "activation": "activation",
}
"""How a message names each kind of Keras object: "unknown layer type 'Conv2d'"."""

ARG_KINDS = (
    (re.compile(r".*_initializer$"), "initializer"),
    (re.compile(r".*_regularizer$"), "regularizer"),
    (re.compile(r".*_constraint$"), "constraint"),
    (re.compile(r"^(activation|recurrent_activation)$"), "activation"),
    (re.compile(r"^(layer|backward_layer|cell)$"), "layer"),
    (re.compile(r"^(loss)$"), "loss"),
    (re.compile(r"^learning_rate$"), "schedule"),
)
"""Arguments whose values are Keras objects of a known kind, by the argument's name."""


def argument_kind(arg: str) -> str | None:
    """The kind of Keras object an argument takes, by its name: ``kernel_regularizer`` ->
    ``regularizer``; ``learning_rate`` -> ``schedule`` (or a number)."""
    return next((kind for rx, kind in ARG_KINDS if rx.match(arg)), None)


def split_ref(ref: str) -> tuple[str, int | None]:
    """``lstm.1`` -> ("lstm", 1): one of several outputs of an entry; ``x`` -> ("x", None)."""
    m = re.fullmatch(r"(.+)\.(\d+)", ref)
    return (m.group(1), int(m.group(2))) if m else (ref, None)


MODEL_ARG_KEYS = frozenset({"name", "trainable"})
"""What a sub-model reference in an argument may say besides its ``type``."""


def model_arg_refs(args: dict, models: "dict | set | frozenset") -> list[tuple[tuple[str | int, ...], str]]:
    """The sub-models of ``models:`` an entry's arguments refer to, with each one's path under the
    arguments: ``encoder: {type: encoder}`` at any depth (rule 1: a ``type`` names what is built;
    rule 3: every ``type: encoder`` is a fresh instance), and a plain name under an argument that
    takes a layer (``layer: encoder`` of a Bidirectional or TimeDistributed)."""
    found: list[tuple[tuple[str | int, ...], str]] = []

    def walk(value: object, path: tuple[str | int, ...], arg: str) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("type"), str) and value["type"] in models:
                found.append((path, value["type"]))
                return
            for key, sub in value.items():
                walk(sub, path + (key,), str(key))
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                walk(sub, path + (i,), arg)
        elif isinstance(value, str) and value in models and argument_kind(arg) == "layer":
            found.append((path, value))

    for key, value in args.items():
        walk(value, (key,), str(key))
    return found
