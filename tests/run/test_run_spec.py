"""A run folder's ``spec.yaml`` is self-contained: it validates, builds the same model and trains
again from any folder (its relative paths were made absolute), for every example."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kerun_testing import ALL_SPECS, EXAMPLES, SPECS
from kerun.spec import load_spec


@pytest.fixture
def elsewhere(tmp_path: Path):
    """Run the test from a folder that has nothing to do with the specs."""
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


@pytest.mark.parametrize("example", ALL_SPECS, ids=[str(p.relative_to(SPECS)) for p in ALL_SPECS])
def test_run_spec_of_every_example_validates_from_another_folder(example: Path, elsewhere: Path) -> None:
    loaded = load_spec(example)
    run = elsewhere / "runs" / "some-run"
    run.mkdir(parents=True)
    (run / "spec.yaml").write_text(loaded.to_yaml())
    again = load_spec(run / "spec.yaml")  # relative to the run folder nothing would be found
    assert again.to_yaml() == loaded.to_yaml()
    assert again.self_contained() == loaded.self_contained()


def test_run_spec_builds_the_same_model(elsewhere: Path) -> None:
    from kerun.model.model import build_model

    for example in ALL_SPECS:
        loaded = load_spec(example)
        (elsewhere / f"{example.stem}.yaml").write_text(loaded.to_yaml())
        again = load_spec(elsewhere / f"{example.stem}.yaml")
        assert build_model(again).model.count_params() == build_model(loaded).model.count_params(), example.name


def test_a_csv_run_trains_again_from_its_own_spec(elsewhere: Path) -> None:
    from kerun.run.options import TrainOptions
    from kerun.run.train import train_file

    quick = TrainOptions(runs_dir=elsewhere / "runs", progress="quiet", epochs=1, limit=64, steps=2)
    first = train_file(Path(EXAMPLES[0].parent / "digits_cnn.yaml"), options=quick)
    assert first.status == "completed"
    second = train_file(first.run_dir / "spec.yaml", options=quick)  # was: data/digits.csv: no such file
    assert second.status == "completed" and second.run_dir != first.run_dir
