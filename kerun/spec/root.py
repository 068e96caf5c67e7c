"""The top level of a spec (:class:`KerunSpec`); its pydantic errors become Problems in :mod:`kerun.spec.problems`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from kerun.spec.base import SpecModel
from kerun.spec.data import DataSpec
from kerun.spec.model import ModelSpec
from kerun.spec.training import CompileSpec, DistributeSpec, SweepSpec, TrainSpec

__all__ = ["KerunSpec", "RUN_NAME_PATTERN"]

RUN_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"


class KerunSpec(SpecModel):
    kerun: Literal[1] = 1
    name: Annotated[str, Field(pattern=RUN_NAME_PATTERN, max_length=100)] | None = Field(
        None, description="the run's name; runs go to runs/<name>/<timestamp>-<id>/. By default the file's name"
    )
    description: str | None = None
    seed: Annotated[int, Field(ge=0, lt=2**32)] | None = Field(
        None, description="makes splits, shuffling and weight initialisation repeatable"
    )
    plugins: list[str] = Field(default_factory=list, description="Python files (relative to the spec) or modules to import first")
    data: DataSpec | None = None
    models: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], ModelSpec] = Field(default_factory=dict)
    model: ModelSpec
    compile: CompileSpec = Field(default_factory=CompileSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    distribute: DistributeSpec = Field(default_factory=DistributeSpec)
    sweep: SweepSpec | None = None
    tracking: Literal["mlflow"] | None = Field(
        None, description="send the run to an experiment tracker: 'mlflow' (pip install 'kerun[mlflow]'; MLFLOW_TRACKING_URI, "
        "else runs/mlflow.db). Same as kerun train --track mlflow"
    )

    @field_validator("tracking")
    @classmethod
    def _tracker_installed(cls, value: str | None) -> str | None:
        import importlib.util

        if value == "mlflow" and importlib.util.find_spec("mlflow") is None:  # looked up, not imported
            raise ValueError("mlflow tracking needs the mlflow package, which is not installed: pip install 'kerun[mlflow]'")
        return value
