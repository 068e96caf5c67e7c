"""``model:`` and ``models:``: inputs, a list of layer entries whose graph is implied, outputs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from kerun.spec.base import SpecModel

__all__ = ["InputSpec", "LayerSpec", "ModelSpec", "ENTRY_KEYS"]

ENTRY_KEYS = ("name", "type", "use", "inputs")
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"


class InputSpec(SpecModel):
    shape: list[Annotated[int, Field(gt=0)] | None] = Field(description="one example's shape; null marks a variable dimension")
    dtype: str = "float32"
    sparse: bool = False


class LayerSpec(SpecModel, extra="allow"):
    """One entry of ``layers``: a new layer (``type``) or a reused one (``use``); other keys are arguments."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    type: str | None = Field(None, description="a Keras layer class, a sub-model from models:, or a plugin class")
    use: str | None = Field(None, description="apply the layer of an earlier entry again, sharing weights")
    inputs: str | list[str] | dict[str, str | list[str]] | None = Field(
        None,
        description="model inputs or earlier entries; by default the previous entry. A mapping passes "
        "them as keyword arguments of the layer's call, e.g. {sequences: dec, initial_state: [enc.1, enc.2]}",
    )

    @model_validator(mode="after")
    def _type_or_use(self) -> "LayerSpec":
        if (self.type is None) == (self.use is None):
            raise ValueError("a layer entry needs exactly one of 'type:' (a new layer) or 'use:' (reuse an earlier one)")
        if self.use is not None and self.model_extra:
            extra = ", ".join(sorted(self.model_extra))
            raise ValueError(f"an entry with 'use:' shares an existing layer and takes no arguments, got {extra}")
        return self

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def input_refs(self) -> list[tuple[tuple[str | int, ...], str]] | None:
        """Every reference in ``inputs`` with its path below the entry, or None when absent."""
        if self.inputs is None:
            return None
        if isinstance(self.inputs, str):
            return [(("inputs",), self.inputs)]
        if isinstance(self.inputs, list):
            return [(("inputs", i), r) for i, r in enumerate(self.inputs)]
        out: list[tuple[tuple[str | int, ...], str]] = []
        for key, value in self.inputs.items():
            if isinstance(value, str):
                out.append((("inputs", key), value))
            else:
                out.extend((("inputs", key, i), r) for i, r in enumerate(value))
        return out


def _input_shorthand(value: Any) -> Any:
    if isinstance(value, list):
        return {"shape": value}
    return value


ModelInput = Annotated[InputSpec, Field()]


class ModelSpec(SpecModel):
    inputs: dict[Annotated[str, Field(pattern=NAME_PATTERN)], ModelInput] = Field(min_length=1)
    layers: list[LayerSpec] = Field(min_length=1)
    outputs: str | list[str] | None = Field(None, description="entries whose outputs are the model's; the last entry by default")
    dtype_policy: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "float32",
        description="Keras dtype policy the model is built with: mixed_float16 / mixed_bfloat16 compute in half "
        "precision with float32 variables and float32 outputs (on model: only; models: entries are built under it)",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """``inputs: {x: [28, 28, 1]}`` is short for ``{x: {shape: [28, 28, 1]}}``."""
        if isinstance(value, dict) and isinstance(value.get("inputs"), dict):
            value = {**value, "inputs": {k: _input_shorthand(v) for k, v in value["inputs"].items()}}
        return value

    def output_names(self) -> list[str]:
        if self.outputs is None:
            last = self.layers[-1]
            return [last.name] if last.name else []
        return [self.outputs] if isinstance(self.outputs, str) else list(self.outputs)

