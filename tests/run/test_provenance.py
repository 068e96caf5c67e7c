"""A run records what it needs to be repeated (the data it read, the packages installed), says when
the data changed on resume, and ``train_again`` repeats it and compares the metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from kerun.run import provenance
from kerun.run.provenance import data_changes, fingerprint

SPEC = """
name: tiny-csv
seed: 3
data:
  train: {type: csv, path: data/rows.csv, label: y}
  validation: {split: 0.25}
model:
  inputs: {x: [2]}
  layers:
    - {type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
train: {epochs: 2, batch_size: 8}
"""


def write_rows(path: Path, n: int = 40, shift: float = 0.0) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)) + shift
    lines = ["a,b,y"] + [f"{a:.4f},{b:.4f},{int(a > 0)}" for a, b in x]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    from kerun.run.options import TrainOptions
    from kerun.run.train import train_file

    folder = tmp_path_factory.mktemp("prov")
    (folder / "data").mkdir()
    write_rows(folder / "data" / "rows.csv")
    (folder / "spec.yaml").write_text(SPEC)
    result = train_file(folder / "spec.yaml", options=TrainOptions(runs_dir=folder / "runs", progress="quiet"))
    return folder, result


def test_manifest_records_the_data_and_the_packages(trained) -> None:
    folder, result = trained
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    [record] = manifest["data"]
    csv = folder / "data" / "rows.csv"
    assert record["split"] == "train" and record["type"] == "csv"
    assert record["path"] == str(csv.resolve())
    assert record["size"] == csv.stat().st_size
    assert record["hash"] == fingerprint(csv.resolve())["hash"] and record["hash"].startswith("blake2b:")
    assert manifest["rows"] == {"train": 30, "validation": 10}
    packages = (result.run_dir / "packages.txt").read_text().splitlines()
    assert any(line.startswith("tensorflow==") for line in packages)
    assert any(line.lower().startswith("kerun==") for line in packages)
    assert packages == sorted(packages, key=lambda line: line.split("==")[0].lower())


def test_resume_warns_when_the_data_changed(trained, capsys: pytest.CaptureFixture[str]) -> None:
    from kerun.run.options import TrainOptions
    from kerun.run.train import train
    from kerun.run.rundir import RunDir
    from kerun.spec import load_spec

    folder, first = trained
    # A copy of the completed run, marked interrupted after its first epoch, so it can be resumed.
    import shutil

    copy = folder / "runs" / "resumable"
    shutil.copytree(first.run_dir, copy)
    run = RunDir.open(copy)
    run.update(status="interrupted")
    csv = folder / "data" / "rows.csv"
    original = csv.read_text()
    try:
        write_rows(csv, shift=0.5)
        capsys.readouterr()
        train(load_spec(folder / "spec.yaml"), TrainOptions(resume=copy, progress="quiet", epochs=3))
        err = capsys.readouterr().err
    finally:
        csv.write_text(original)
    assert "the data differs" in err and "rows.csv changed" in err
    manifest = json.loads((copy / "manifest.json").read_text())
    assert any("rows.csv changed" in line for line in manifest["data_changed"])


def test_train_again_repeats_the_run_and_compares(trained, tmp_path: Path) -> None:
    from kerun.run.again import train_again
    from kerun.run.options import TrainOptions

    folder, first = trained
    result, rows = train_again(first.run_dir, TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert result.status == "completed" and result.run_dir != first.run_dir
    by_key = {(r.split, r.metric): r for r in rows}
    loss = by_key[("train", "loss")]
    assert loss.before == pytest.approx(first.metrics["train"]["loss"])
    assert loss.after == pytest.approx(result.metrics["train"]["loss"])
    assert abs(loss.difference) < 1e-4  # same seed, same machine: float32 rounding at most
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["repeats"] == str(first.run_dir.resolve())


def test_sampled_hash_of_a_large_file_sees_a_change_in_a_sample(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(provenance, "WHOLE_LIMIT", 1000)
    monkeypatch.setattr(provenance, "SAMPLE", 100)
    f = tmp_path / "big.bin"
    data = bytearray(os.urandom(5000))
    f.write_bytes(data)
    before = fingerprint(f)
    assert before["hash"].startswith("blake2b-sampled:")
    data[2500] ^= 0xFF  # the middle sample
    f.write_bytes(data)
    after = fingerprint(f)
    assert after["hash"] != before["hash"]
    lines = data_changes([{"split": "train", **before}], [{"split": "train", **after}])
    assert lines and "big.bin changed" in lines[0]


def test_folder_fingerprint_changes_with_a_new_file(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "1.png").write_bytes(b"x")
    before = fingerprint(tmp_path)
    (tmp_path / "cats" / "2.png").write_bytes(b"y")
    after = fingerprint(tmp_path)
    assert before["kind"] == "folder" and before["files"] == 1 and after["files"] == 2
    assert before["hash"] != after["hash"]


def test_cli_train_again_prints_both_runs_metrics(trained, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kerun.cli import app

    folder, first = trained
    result = CliRunner().invoke(app, ["train", "--again", str(first.run_dir), "--runs-dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "completed" and out["repeats"] == str(first.run_dir)
    rows = {(r["split"], r["metric"]): r for r in out["comparison"]}
    assert rows[("validation", "accuracy")]["before"] == pytest.approx(first.metrics["validation"]["accuracy"])
    refused = CliRunner().invoke(app, ["train", "--again", str(first.run_dir), "--set", "train.epochs=1"])
    assert refused.exit_code == 2 and "--again repeats a run as it was" in refused.stdout + refused.stderr
