"""Paths the tests share (a module of its own: 'conftest' names clash between folders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
EXAMPLES = sorted(SPECS.glob("*.yaml"))
#: every spec below specs/ (the keras.io translations in specs/keras_io/ too)
ALL_SPECS = sorted(p for p in SPECS.rglob("*.yaml") if "data" not in p.relative_to(SPECS).parts)
TESTS = ROOT / "tests"

TF_FOLDERS = frozenset({"model", "data", "run", "orchestrate", "interop", "reliability", "env"})
TF_FILES = frozenset({"test_api.py", "test_tfenv.py"})


def needs_tensorflow(path: Path) -> bool:
    """Whether the tests in ``path`` (a test file) import TensorFlow, by where the file is: the
    folders of the TensorFlow layers and of whole-command tests, and a few top-level files."""
    rel = Path(path).resolve().relative_to(TESTS)
    return rel.parts[0] in TF_FOLDERS or (len(rel.parts) == 1 and rel.name in TF_FILES)


UPDATE_GOLDENS_ENV = "KERUN_UPDATE_GOLDENS"
"""``KERUN_UPDATE_GOLDENS=1 python -m pytest ...`` rewrites the golden files the tests compare
with, after a deliberate change of wording; review the diff before committing it."""


def golden_cases(folder: Path, pattern: str = "*.yaml") -> list[Path]:
    """The inputs in ``folder`` whose expected output is a golden file beside them (``.expected``)."""
    return sorted(folder.glob(pattern))


def assert_golden(case: Path, actual: str, *, suffix: str = ".expected") -> None:
    """``actual`` is exactly the text of ``case``'s golden file (``case`` with ``suffix``, by
    default ``.expected``); with ``KERUN_UPDATE_GOLDENS=1`` it becomes that text instead."""
    import os

    golden = case.with_suffix(suffix)
    if os.environ.get(UPDATE_GOLDENS_ENV) == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
        return
    assert golden.is_file(), f"{golden.name} is missing: run the test with {UPDATE_GOLDENS_ENV}=1 and review it"
    expected = golden.read_text(encoding="utf-8")
    assert actual == expected, f"{golden.name} differs (update with {UPDATE_GOLDENS_ENV}=1 after a deliberate change)"


def invoke_in(folder: Path, args: list[str]) -> Any:
    """Run the CLI in-process with ``folder`` as the working directory (messages use relative paths)."""
    import os

    from typer.testing import CliRunner

    from kerun.cli import app

    old = os.getcwd()
    os.chdir(folder)
    try:
        return CliRunner().invoke(app, args)
    finally:
        os.chdir(old)


SMALL_SPEC = """\
name: small
seed: 3
data:
  train: {type: synthetic, size: %(size)d, fields: {x: {shape: [8]}, label: {classes: 3}}}
  validation: {split: 0.25}
  test: {split: 0.25}
model:
  inputs: {x: [8]}
  layers:
    - {type: Dense, units: 16, activation: relu}
    - {type: Dropout, rate: 0.1}
    - {type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
train:
  epochs: %(epochs)d
  batch_size: 16
  callbacks:
    - {type: ModelCheckpoint, monitor: val_loss, save_best_only: true}
"""
"""The small spec the tests train: 3 classes of synthetic 8-feature rows, a tiny MLP (a few seconds)."""


#: Parts of :data:`SMALL_SPEC` a test can leave out (``small_spec_text(without=...)``).
SMALL_PARTS = {
    "test": "  test: {split: 0.25}\n",
    "dropout": "    - {type: Dropout, rate: 0.1}\n",
    "checkpoint": "  callbacks:\n    - {type: ModelCheckpoint, monitor: val_loss, save_best_only: true}\n",
}


def small_spec_text(*, without: tuple[str, ...] = (), replace: dict[str, str] | None = None, append: str = "") -> str:
    """A variation of :data:`SMALL_SPEC`: parts of :data:`SMALL_PARTS` left out, lines replaced
    (each must be there), text appended; ``%(size)d`` and ``%(epochs)d`` are still to be filled."""
    text = SMALL_SPEC
    for part in without:
        assert SMALL_PARTS[part] in text, part
        text = text.replace(SMALL_PARTS[part], "")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return text + append


#: :data:`SMALL_SPEC` for two workers: no test split, dropout or checkpoint, ``multi_worker_mirrored``
#: (the loopback tests in test_multiworker.py and the network-namespace ones in test_netns.py).
MULTIWORKER_SPEC = small_spec_text(
    without=("test", "dropout", "checkpoint"),
    replace={"name: small\n": "name: mw\n", "seed: 3\n": "seed: 1\n", "batch_size: 16": "batch_size: 32"},
    append="distribute:\n  strategy: multi_worker_mirrored\n")


def multiworker_spec(folder: Path, *, size: int = 256, epochs: int = 2) -> Path:
    """Write :data:`MULTIWORKER_SPEC` as ``folder/mw.yaml``."""
    return small_spec(folder, size=size, epochs=epochs, text=MULTIWORKER_SPEC, name="mw.yaml")


def small_spec(folder: Path, *, size: int = 96, epochs: int = 3, text: str = SMALL_SPEC, name: str = "small.yaml") -> Path:
    """Write :data:`SMALL_SPEC` (or a variation of it: ``%(size)d`` and ``%(epochs)d`` are filled) into ``folder``."""
    path = folder / name
    path.write_text(text % {"size": size, "epochs": epochs})
    return path


def trained_on_demand(folder: Path, runs_dir: Path) -> Any:
    """A generator for a module fixture: yields ``get(name)``, which trains ``folder/name.yaml``
    into ``runs_dir`` the first time it is asked and returns the RunResult after that. ``folder``
    is on ``sys.path`` meanwhile, so hand-written twins import the specs' own plugins."""
    import sys

    from kerun.run.options import TrainOptions
    from kerun.run.train import train_file

    done: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in done:
            done[name] = train_file(folder / f"{name}.yaml", options=TrainOptions(runs_dir=runs_dir, progress="quiet"))
        return done[name]

    sys.path.insert(0, str(folder))
    try:
        yield get
    finally:
        sys.path.remove(str(folder))


def ctrl_c_as_in_a_terminal() -> None:
    """A ``preexec_fn``: the child starts with SIGINT's default action, as a command started from a
    terminal does, even when this suite runs in the background (a shell's ``&`` without job control
    starts it with SIGINT ignored, every child inherits that, and Python then leaves Ctrl-C
    ignored)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
