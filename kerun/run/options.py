"""What one training run is asked to do (``TrainOptions``) and what it gives back (``RunResult``).

Kept apart from ``train`` and ``session`` so that both can use them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

__all__ = ["RunResult", "TrainOptions"]


@dataclass
class TrainOptions:
    runs_dir: Path = Path("runs")
    resume: Path | None = None
    progress: str = "auto"  # auto | rich | plain | quiet
    limit: int | None = None  # examples per split (smoke runs)
    steps: int | None = None  # steps per epoch (smoke runs)
    epochs: int | None = None
    synthetic: bool = False
    run_id: str | None = None
    run_dir: Path | None = None  # the exact run folder, agreed by every worker (created, or continued)
    on_stage: Callable[[str], None] | None = None  # told "build", "data", "train", "save", "evaluate"
    callbacks: list[Any] = field(default_factory=list)  # the caller's Keras callbacks (a sweep's pruning), after the spec's


@dataclass
class RunResult:
    run_dir: Path
    status: str
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    epochs: int = 0
    error: str | None = None
    seconds: float = 0.0
    built: Any = field(default=None, repr=False)  # the trained BuiltModel, for callers in this process
    datasets: Any = field(default=None, repr=False)
    reloaded: Any = field(default=None, repr=False)  # model.keras as loaded back before the run was completed

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "status": self.status,
            "epochs": self.epochs,
            "metrics": self.metrics,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }
