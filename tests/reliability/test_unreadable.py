"""What is not a regular file is refused before it is read, and every read is bounded (issue 20,
point 4; and the plugin paths of point 11): FIFOs, devices, /dev/zero behind a symbolic link, paths
too long, NULs and lone surrogates end in a clear error, never a hang or a traceback."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from kerun.errors import DataError, KerunError, SpecError

TINY = """\
model:
  inputs: {x: [2]}
  layers:
    - {type: Dense, units: 1}
compile: {loss: mse}
"""


def finishes(fn: Callable[[], Any], fifos: list[Path] = (), seconds: float = 20) -> BaseException | None:
    """Run ``fn`` in a thread; what it raised. If it is still blocked after ``seconds`` the FIFOs
    are opened for writing (which unblocks a reader) and the test fails: that is the hang."""
    box: dict[str, BaseException | None] = {"exc": None}

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["exc"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        for fifo in fifos:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        t.join(5)
        pytest.fail(f"still reading after {seconds} s: it hung")
    return box["exc"]


def test_a_spec_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    from kerun.spec import load_spec

    fifo = tmp_path / "s.yaml"
    os.mkfifo(fifo)
    exc = finishes(lambda: load_spec(fifo), [fifo])
    assert isinstance(exc, SpecError) and "FIFO" in exc.message


def test_a_spec_that_links_to_dev_zero_is_refused_unread(tmp_path: Path) -> None:
    from kerun.spec import load_spec

    (tmp_path / "s.yaml").symlink_to("/dev/zero")
    exc = finishes(lambda: load_spec(tmp_path / "s.yaml"), seconds=10)
    assert isinstance(exc, SpecError) and "device" in exc.message


def test_a_huge_spec_is_refused_before_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kerun.spec import load_spec

    big = tmp_path / "s.yaml"
    with open(big, "wb") as fh:
        fh.truncate(2**34)  # 16 GiB, sparse: reading it would take minutes and all the memory
    real_read = os.read
    read: list[int] = []
    monkeypatch.setattr(os, "read", lambda fd, n: read.append(n) or real_read(fd, n))
    exc = finishes(lambda: load_spec(big), seconds=10)
    assert isinstance(exc, SpecError) and "larger than 16 MiB" in exc.message
    assert sum(read) == 0


def test_data_paths_that_are_not_files(tmp_path: Path) -> None:
    from kerun.run.train import TrainOptions, train_file

    os.mkfifo(tmp_path / "fifo.csv")
    (tmp_path / "zero.npz").symlink_to("/dev/zero")
    (tmp_path / "folder.csv").mkdir()
    cases = {"fifo.csv": "FIFO", "zero.npz": "device", "folder.csv": "folder", "x" * 5000 + ".csv": ""}
    for name, words in cases.items():
        kind = "npz" if name.endswith(".npz") else "csv"
        spec = tmp_path / "s.yaml"
        spec.write_text(f"data:\n  train: {{type: {kind}, path: {name}}}\n" + TINY)
        exc = finishes(lambda: train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet")),
                       [tmp_path / "fifo.csv"])
        assert isinstance(exc, KerunError), (name, exc)
        assert "Traceback" not in exc.render() and words.lower() in exc.message.lower() and exc.location is not None and exc.location.line == 2, (name, exc.message)


@pytest.mark.parametrize("entry, words", [
    ("x" * 5000 + ".py", "cannot be"),
    ("x\\0y.py", "cannot be"),
    ("\\udcff.py", "plugin"),
    ("deep.py", "nested too deeply"),
    ("fifo.py", "FIFO"),
])
def test_plugin_paths_that_cannot_be_read(tmp_path: Path, entry: str, words: str) -> None:
    from kerun.spec import spec_from_text

    (tmp_path / "deep.py").write_text("x = " + "-" * 100_000 + "1\n")
    os.mkfifo(tmp_path / "fifo.py")
    text = f'plugins: ["{entry}"]\n' + TINY
    exc = finishes(lambda: spec_from_text(text, file=str(tmp_path / "s.yaml")), [tmp_path / "fifo.py"])
    assert isinstance(exc, SpecError), exc
    assert any(words in p.message and p.path == ("plugins", 0) for p in exc.problems), exc.render()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kerun.run.train import TrainOptions, train_file

    base = tmp_path_factory.mktemp("predict")
    (base / "d.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(16)))
    spec = base / "s.yaml"
    spec.write_text("data:\n  train: {type: csv, path: d.csv, label: y}\n" + TINY.replace("compile: {loss: mse}", "compile: {loss: mse}\ntrain: {epochs: 1}"))
    return train_file(spec, [], TrainOptions(runs_dir=base / "runs", progress="quiet")).run_dir


def test_predict_input_that_is_not_a_file(finished_run: Path, tmp_path: Path) -> None:
    from kerun.run.predict import predict_run

    os.mkfifo(tmp_path / "in.csv")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    for name, words in (("in.csv", "FIFO"), ("zero.csv", "device")):
        exc = finishes(lambda: predict_run(finished_run, tmp_path / name), [tmp_path / "in.csv"])
        assert isinstance(exc, DataError) and words in exc.message, (name, exc)


def test_a_run_whose_model_file_is_not_a_keras_archive(finished_run: Path, tmp_path: Path) -> None:
    import json
    import shutil
    import zipfile

    import keras

    from kerun.errors import RunError
    from kerun.run.evaluate import load_run

    def run_with(model_file: Any) -> Path:
        run = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        shutil.copytree(finished_run, run)
        (run / "model.keras").unlink()
        model_file(run / "model.keras")
        return run

    h5 = run_with(lambda p: keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(p.with_suffix(".h5")) or p.with_suffix(".h5").rename(p))
    with pytest.raises(RunError, match="is an HDF5"):
        load_run(h5)  # Keras itself says "File not found"
    folder = run_with(lambda p: p.mkdir())
    with pytest.raises(RunError, match="has no model.keras"):
        load_run(folder)

    def nameless(p: Path) -> None:
        with zipfile.ZipFile(finished_run / "model.keras") as src, zipfile.ZipFile(p, "w") as dst:
            for name in src.namelist():
                data = src.read(name)
                if name == "config.json":
                    config = json.loads(data)
                    config["config"].pop("name", None)
                    config["config"]["layers"][-1] = 5  # not a mapping
                    data = json.dumps(config).encode()
                dst.writestr(name, data)

    with pytest.raises(RunError, match="cannot load"):
        load_run(run_with(nameless))
    with pytest.raises(RunError, match="not a .keras archive"):
        load_run(run_with(lambda p: p.write_bytes(b"\0" * 100)))
