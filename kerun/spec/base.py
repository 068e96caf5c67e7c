"""The pydantic base every ``*Spec`` class shares, and the types used across sections."""

from __future__ import annotations

import contextlib
import os
from typing import Annotated, Any, Iterator, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = ["KerasObject", "NonNegInt", "PosInt", "SpecModel", "keras_object", "no_pydantic_plugins"]


class SpecModel(BaseModel):
    """Strict (YAML already gives typed values), closed (unknown keys are errors), immutable-ish.

    ``defer_build``: a class's validator is built when it first validates, not at import. Checking a
    spec validates the top :class:`~kerun.spec.root.KerunSpec` only, whose one schema holds every
    section, so the validators of its parts, which import used to build one by one, are never needed
    (``import kerun.spec`` 30-45 ms faster, benchmarks/README.md)."""

    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True, validate_default=False, defer_build=True)


@contextlib.contextmanager
def no_pydantic_plugins() -> Iterator[None]:
    """pydantic's plugins left out of the validators built inside (as Typer does for its own): the
    first validator built otherwise scans every installed distribution's entry points (5-15 ms a
    process here), and no plugin has anything to do with kerun's spec classes."""
    previous = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PYDANTIC_DISABLE_PLUGINS", None)
        else:
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = previous


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
