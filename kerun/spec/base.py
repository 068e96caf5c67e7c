"""The pydantic base every ``*Spec`` class shares, and the types used across sections."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = ["KerasObject", "NonNegInt", "PosInt", "SpecModel", "keras_object"]


class SpecModel(BaseModel):
    """Strict (YAML already gives typed values), closed (unknown keys are errors), immutable-ish."""

    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True, validate_default=False)


def keras_object(value: Any) -> Any:
    """A Keras object is its string identifier or a mapping whose ``type`` names the class."""
    if isinstance(value, dict):
        kind = value.get("type")
        if not isinstance(kind, str) or not kind:
            raise ValueError("a mapping for a Keras object needs 'type:' naming the class, e.g. {type: Adam, learning_rate: 0.001}")
    elif not isinstance(value, str) or not value:
        raise ValueError(f"expected a Keras name like 'adam' or a mapping with 'type:', got {value!r}")
    return value


KerasObject = Annotated[Union[str, dict[str, Any]], AfterValidator(keras_object)]
# Sizes, counts and steps fit TensorFlow's int32; a larger one is a typo, not a plan.
INT32_LIMIT = 2**31
PosInt = Annotated[int, Field(gt=0, lt=INT32_LIMIT)]
NonNegInt = Annotated[int, Field(ge=0, lt=INT32_LIMIT)]
