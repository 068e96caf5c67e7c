"""Files kerun writes stay in the run folder, whatever Keras's format fields make of a path; the
git commit of the spec's folder is read without git running anything (issue 20, points 1 and 2)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kerun.errors import RunError, SpecError
from kerun.spec import spec_from_text

PATH_ARGS = {"ModelCheckpoint": "filepath", "TensorBoard": "log_dir", "CSVLogger": "filename",
             "BackupAndRestore": "backup_dir", "OrbaxCheckpoint": "directory"}

BASE = """\
model:
  inputs: {x: [2]}
  layers:
    - {type: Dense, units: 1}
compile: {loss: mse}
train:
  callbacks:
"""

ESCAPE = "{epoch!s:.>2.0}/{epoch!s:.>2.0}/{epoch!s:.>2.0}/x.keras"  # Keras formats it to ../../../x.keras


def problems(callback_line: str) -> list:
    with pytest.raises(SpecError) as err:
        spec_from_text(BASE + "    - " + callback_line + "\n", file="s.yaml")
    return err.value.problems


def test_format_fields_that_escape_are_refused_at_validate_on_their_line() -> None:
    found = problems(f'{{type: ModelCheckpoint, filepath: "{ESCAPE}"}}')
    assert len(found) == 1
    assert found[0].location.line == 8 and "conversion !s" in found[0].message
    assert found[0].path == ("train", "callbacks", 0, "filepath")


@pytest.mark.parametrize("template", [
    "{epoch.__class__}.keras", "{0}.keras", "{}.keras", "{epoch:.<9}.keras", "{epoch:{x}}.keras",
    "{loss:02d}.keras", "{epoch", "../best.keras", "/tmp/best.keras", "~/best.keras",
])
def test_only_documented_fields_with_plain_formats(template: str) -> None:
    from kerun.spec.callback_paths import path_problem

    assert path_problem("ModelCheckpoint", template)
    assert problems(f'{{type: ModelCheckpoint, filepath: "{template}"}}')


@pytest.mark.parametrize("template", ["best.keras", "ck/{epoch:02d}-{val_loss:.4f}.keras", "e{epoch}b{batch:03d}.keras", "a{{b}}.keras"])
def test_what_keras_documents_still_passes(template: str) -> None:
    from kerun.spec.callback_paths import path_problem

    assert path_problem("ModelCheckpoint", template) is None


@pytest.mark.parametrize("name", sorted(PATH_ARGS))
def test_every_callback_path_is_confined(name: str) -> None:
    arg = PATH_ARGS[name]
    for bad in ("../outside", "/tmp/outside", "a/../../outside"):
        found = problems(f'{{type: {name}, {arg}: "{bad}"}}')
        assert any(p.path == ("train", "callbacks", 0, arg) for p in found), (name, bad, found)
    from kerun.spec.callback_paths import CALLBACK_PATHS

    assert CALLBACK_PATHS[name][0] == arg  # one list, for validation and for the run


def test_the_formatted_path_is_checked_again_before_writing(tmp_path: Path) -> None:
    import keras

    from kerun.run.callbacks import AtomicModelCheckpoint

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    root = tmp_path / "runs" / "r"
    root.mkdir(parents=True)
    cb = AtomicModelCheckpoint(str(root) + "/" + ESCAPE, root=root)  # as if validation were bypassed
    cb.set_model(model)
    with pytest.raises(RunError, match="outside the run folder"):
        cb._save_model(0, None, {"loss": 0.5})
    assert not (tmp_path / "x.keras").exists() and not list(tmp_path.rglob("x.keras"))
    fine = AtomicModelCheckpoint(str(root) + "/ck/{epoch:02d}.keras", root=root)
    fine.set_model(model)
    fine._save_model(0, None, {"loss": 0.5})
    assert (root / "ck" / "01.keras").is_file()


def _git(folder: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_GLOBAL": "/dev/null"}
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True, env=env).stdout.strip()


def test_git_commit_is_read_without_running_git_or_its_config(tmp_path: Path) -> None:
    from kerun.run.rundir import _git_commit

    repo = tmp_path / "specs"
    (repo / "deep").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "s.yaml").write_text("x: 1\n")
    _git(repo, "add", "s.yaml")
    _git(repo, "commit", "-q", "-m", "one")
    sha = _git(repo, "rev-parse", "HEAD")
    marker = tmp_path / "PWNED"
    # what a folder of specs from a stranger can carry: git status would run this
    _git(repo, "config", "core.fsmonitor", f"touch {marker}; false")
    (repo / "s.yaml").write_text("x: 2\n")
    assert _git_commit(repo / "deep") == {"commit": sha, "branch": "main"}
    assert not marker.exists(), "a command configured in the repository ran"
    _git(repo, "-c", "core.fsmonitor=", "pack-refs", "--all")  # the branch now lives in packed-refs only
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert _git_commit(repo) == {"commit": sha, "branch": "main"}
    (repo / ".git" / "HEAD").write_text(sha + "\n")  # detached
    assert _git_commit(repo) == {"commit": sha, "branch": None}
    assert not marker.exists()


def test_git_of_a_repository_owned_by_someone_else_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kerun.run.rundir as rundir

    _git(tmp_path, "init", "-q")
    (tmp_path / "a").write_text("a")
    _git(tmp_path, "add", "a")
    _git(tmp_path, "commit", "-q", "-m", "a")
    assert rundir._git_commit(tmp_path) is not None
    monkeypatch.setattr(rundir.os, "getuid", lambda: os.stat(tmp_path / ".git").st_uid + 1)
    assert rundir._git_commit(tmp_path) is None


def test_hostile_git_files_are_not_followed(tmp_path: Path) -> None:
    from kerun.run.rundir import _git_commit

    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/../../../../etc/passwd\n")
    assert _git_commit(tmp_path) is None
    os.mkfifo(tmp_path / ".git" / "HEAD.fifo")
    (tmp_path / ".git" / "HEAD").unlink()
    os.symlink(tmp_path / ".git" / "HEAD.fifo", tmp_path / ".git" / "HEAD")
    assert _git_commit(tmp_path) is None  # a FIFO is not read (it would hang)
