"""The pydantic base every ``*Spec`` class shares, and the types used across sections."""

from __future__ import annotations

import contextlib
import os
import sys
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
    process here), and no plugin has anything to do with kerun's spec classes.

    pydantic imports its plugin loader (and with it ``importlib.metadata``, about 20 ms) before it
    reads the switch; while no other code has imported it, the block also builds model validators
    the way pydantic does when no plugin is loaded (:func:`_plain_schema_validator`), so ``kerun
    validate`` never imports either. Not for use from two threads at once."""
    previous = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "1"
    swapped = _swap_schema_validator()
    try:
        yield
    finally:
        if swapped is not None:
            from pydantic._internal import _model_construction

            _model_construction.create_schema_validator = swapped
        if previous is None:
            os.environ.pop("PYDANTIC_DISABLE_PLUGINS", None)
        else:
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = previous


# pydantic.plugin._schema_validator.create_schema_validator's arguments, in order (pydantic 2.11-2.13)
_CREATE_ARGS = ("schema", "schema_type", "schema_type_module", "schema_type_name", "schema_kind", "config",
                "plugin_settings", "_use_prebuilt")


def _plain_schema_validator(schema: Any, schema_type: Any, schema_type_module: str, schema_type_name: str,
                            schema_kind: Any, config: Any = None, plugin_settings: Any = None,
                            _use_prebuilt: bool = True) -> Any:
    """What pydantic's ``create_schema_validator`` returns when no plugin is loaded."""
    from pydantic_core import SchemaValidator

    return SchemaValidator(schema, config, _use_prebuilt=_use_prebuilt)


def _swap_schema_validator() -> Any:
    """Put :func:`_plain_schema_validator` where pydantic's model construction calls
    ``create_schema_validator`` and return the original; None (nothing changed) when the plugin
    loader is imported already or pydantic's function is not the one this mirrors."""
    if "pydantic.plugin._loader" in sys.modules:
        return None
    from pydantic._internal import _model_construction
    from pydantic.plugin import _schema_validator

    original = getattr(_model_construction, "create_schema_validator", None)
    code = getattr(original, "__code__", None)
    if original is not _schema_validator.create_schema_validator or code is None \
            or code.co_varnames[:code.co_argcount] != _CREATE_ARGS:
        return None
    _model_construction.create_schema_validator = _plain_schema_validator
    return original


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
