"""kerun.console: the tables of the command line, rendered exactly on a fixed-width console."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rich.console import Console

from kerun.console import check_summary, check_table, metrics_table, short_value, sweep_footer, sweep_table


def render(renderable: Any, width: int = 60) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, highlight=False, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_metrics_table_has_a_column_per_metric_in_first_seen_order() -> None:
    table = metrics_table({"train": {"loss": 0.51234, "accuracy": 0.9}, "test": {"loss": 0.6}}, "iris: completed")
    assert render(table) == (
        "iris: completed              \n"
        "┏━━━━━━━┳━━━━━━━━┳━━━━━━━━━━┓\n"
        "┃ split ┃   loss ┃ accuracy ┃\n"
        "┡━━━━━━━╇━━━━━━━━╇━━━━━━━━━━┩\n"
        "│ train │ 0.5123 │   0.9000 │\n"
        "│ test  │ 0.6000 │          │\n"
        "└───────┴────────┴──────────┘\n"
    )


def test_check_table_and_summary() -> None:
    results = [SimpleNamespace(spec="a.yaml", stage="train", seconds=1.25, result="passed"),
               SimpleNamespace(spec="b.yaml", stage="validate", seconds=0.0, result="invalid")]
    assert render(check_table(results)) == (
        "kerun check                           \n"
        "┏━━━━━━━━┳━━━━━━━━━━┳━━━━━━┳━━━━━━━━━┓\n"
        "┃ spec   ┃ stage    ┃ time ┃ result  ┃\n"
        "┡━━━━━━━━╇━━━━━━━━━━╇━━━━━━╇━━━━━━━━━┩\n"
        "│ a.yaml │ train    │ 1.2s │ passed  │\n"
        "│ b.yaml │ validate │      │ invalid │\n"
        "└────────┴──────────┴──────┴─────────┘\n"
    )
    assert check_summary(results) == "\nkerun check of 2 specs: 1 passed, 0 failed, 1 invalid (1.2s)"


def test_sweep_table_shows_the_best_trials_parameters() -> None:
    result = SimpleNamespace(
        folder=Path("runs/iris/sweep-1"), ran=2, best={"trial": 1, "value": 0.123456789, "params": {"lr": 0.001}},
        trials=[{"trial": 0, "state": "COMPLETE", "value": 0.5, "lr": 0.0123456, "seconds": 1.0},
                {"trial": 1, "state": "COMPLETE", "value": 0.123456789, "lr": 0.001, "seconds": None}])
    text = render(sweep_table(result), width=80)
    assert text.splitlines()[0].rstrip() == "sweep sweep-1: 2 trials (2 run now)"
    assert "│ 0     │ COMPLETE │ 0.5    │ 0.01235 │ 1.0     │" in text
    assert "│ 1     │ COMPLETE │ 0.1235 │ 0.001   │ 0.0     │" in text
    assert sweep_footer(result) == ("best: trial 1, value 0.123457\nbest spec: runs/iris/sweep-1/best.yaml\n"
                                    "sweep folder: runs/iris/sweep-1")
    assert short_value(3) == "3" and short_value("relu") == '"relu"'
