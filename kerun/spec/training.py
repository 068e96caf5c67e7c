"""``compile:``, ``train:``, ``distribute:`` and ``sweep:``."""

from __future__ import annotations

import builtins
import math
from typing import Annotated, Any, Literal, Union

from pydantic import Field, WithJsonSchema, field_validator

from kerun.spec.base import KerasObject, NonNegInt, PosInt, SpecModel

__all__ = ["CompileSpec", "DistributeSpec", "ObjectiveSpec", "PrunerSpec", "SweepSpec", "TrainSpec"]


class CompileSpec(SpecModel):
    optimizer: KerasObject = "rmsprop"
    loss: Any = Field(None, description="a loss, or a mapping of output name -> loss")
    loss_weights: dict[str, float] | list[float] | None = None
    metrics: Any = Field(None, description="a list of metrics, or a mapping of output name -> list")
    jit_compile: bool | Literal["auto"] = "auto"
    steps_per_execution: PosInt | Literal["auto"] = Field(
        "auto", description="batches per call into TensorFlow; 'auto' lets kerun choose from the steps per epoch"
    )


class TrainSpec(SpecModel):
    epochs: PosInt = 1
    batch_size: PosInt = 32
    callbacks: list[KerasObject] = Field(default_factory=list)
    class_weight: dict[Annotated[int, Field(ge=0)], Annotated[float, Field(ge=0)]] | Literal["balanced"] | None = Field(
        None, description="class id -> weight, or 'balanced': n_samples / (n_classes * count of the class) over the training split")
    sample_weight: str | None = Field(None, description="a data field holding one weight per example")
    steps_per_epoch: PosInt | None = None
    validation_steps: PosInt | None = None
    shuffle: bool = True
    deterministic: bool = Field(False, description="bit-for-bit repeatable kernels (slower)")
    initial_weights: str | None = Field(
        None, description="a .weights.h5 file (relative to the spec) the model starts from, e.g. written by kerun import --weights"
    )
    freeze: list[str] = Field(default_factory=list, description="names of model.layers entries whose weights do not train")


class DistributeSpec(SpecModel):
    strategy: Literal["default", "mirrored", "multi_worker_mirrored"] = "default"


class ObjectiveSpec(SpecModel):
    metric: str = "val_loss"
    direction: Literal["min", "max"] = "min"


def _finite_pair(value: list[float]) -> list[float]:
    low, high = value
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ValueError(f"expected [low, high] with finite low < high, got {value}")
    return value


Pair = Annotated[list[float], Field(min_length=2, max_length=2)]


class RangeSpec(SpecModel):
    uniform: Pair | None = None
    log_uniform: Pair | None = None
    int: Annotated[list[builtins.int], Field(min_length=2, max_length=2)] | None = None  # builtins: the field shadows int
    choice: Annotated[list[Any], Field(min_length=1)] | None = None

    @field_validator("uniform", "log_uniform", "int")
    @classmethod
    def _ordered(cls, value: list[float] | None) -> list[float] | None:
        return None if value is None else _finite_pair(value)

    @field_validator("log_uniform")
    @classmethod
    def _positive(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and value[0] <= 0:
            raise ValueError("a log_uniform range needs a positive lower bound")
        return value

    def model_post_init(self, _context: Any) -> None:
        chosen = [k for k in ("uniform", "log_uniform", "int", "choice") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("a search space is exactly one of uniform, log_uniform, int or choice, or a plain list of choices")


class PrunerSpec(SpecModel):
    """``sweep.pruner``: ``median``, ``hyperband`` or ``none``, or a mapping with ``type`` and its
    settings (kerun.orchestrate.pruning turns it into an Optuna pruner)."""

    type: Literal["median", "hyperband", "none"] = "median"
    startup_trials: NonNegInt | None = Field(
        None, description="median: trials that complete before any is pruned; by default a quarter of the trials, 2 to 5")
    min_epochs: PosInt | None = Field(None, description="no trial is pruned before this many epochs (default: median 2, hyperband 1)")


_PRUNERS = ["median", "hyperband", "none"]
_PRUNER_SCHEMA = {"anyOf": [{"enum": _PRUNERS}, {"type": "object", "additionalProperties": False, "properties": {
    "type": {"enum": _PRUNERS}, "startup_trials": {"type": ["integer", "null"], "minimum": 0},
    "min_epochs": {"type": ["integer", "null"], "minimum": 1}}}]}  # the name alone, or the mapping


class SweepSpec(SpecModel):
    method: Literal["grid", "random", "bayesian"] = "random"
    trials: PosInt | None = Field(None, description="number of trials; for grid, every combination by default")
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    space: dict[str, Union[Annotated[list[Any], Field(min_length=1)], RangeSpec]] = Field(min_length=1)
    pruner: Annotated[PrunerSpec, WithJsonSchema(_PRUNER_SCHEMA)] = Field(
        default_factory=lambda: PrunerSpec(type="none"),
        description="stop hopeless trials early from each epoch's objective: median | hyperband | none (default)")

    @field_validator("pruner", mode="before")
    @classmethod
    def _pruner_name(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value
