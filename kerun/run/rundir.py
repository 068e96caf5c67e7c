"""The run directory: ``runs/<name>/<UTC timestamp>-<short id>/``, never overwritten.

Every file is written atomically (a temporary file in the same folder, flushed, fsynced, then
renamed over the target), so a crash or a full disk leaves the earlier complete file or none, never
a truncated one. The manifest says what the run is doing now: ``running``, ``completed``,
``failed`` (with the error) or ``interrupted``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import platform
import secrets
import re
import shutil
import socket
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from kerun.errors import Location, RunError

__all__ = ["PICTURES_ENV", "RunDir", "atomic_write", "utc_now"]

SPEC_FILE = "spec.yaml"
MANIFEST = "manifest.json"
MODEL_FILE = "model.keras"
BEST_FILE = "best.keras"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
METRICS = "metrics.json"
SUMMARY = "summary.txt"
CURVES = "curves.png"
BACKUP = "backup"
LOCK_FILE = ".lock"
PACKAGES = "packages.txt"  # the installed distributions (kerun.run.provenance)
TRACEBACK_FILE = "traceback.txt"  # a bug in kerun's own code during training (kerun.run.train)


RUN_DIR_ENV = "KERUN_RUN_DIR"
"""The exact run folder a ``kerun train`` process trains in, given identically to every worker of a
multi-worker run (and to each sweep trial): the chief creates it, or continues the run in it after
a restart; the other workers only read from it. The command line reads it once and passes it to
:func:`kerun.run.train.train` as ``TrainOptions.run_dir``; the Python API never reads it."""


def current_umask() -> int:
    """The process's umask now, read without changing it where Linux's ``/proc`` tells it; elsewhere
    set and restored at once (to a strict mask for that instant)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def command_line() -> list[str]:
    """How this process was started, as the user typed it."""
    argv = list(sys.argv)
    if argv and (argv[0].endswith("__main__.py") or os.path.basename(argv[0]) == "kerun"):
        argv[0] = "kerun"
    return argv


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _disk_error(exc: OSError, target: Path) -> RunError:
    if exc.errno == errno.ENOSPC:
        return RunError(f"the disk is full while writing {target}", hint="free some space; the earlier file, if any, is intact")
    return RunError(f"cannot write {target}: {exc.strerror or exc}")


def full_suffix(name: str) -> str:
    """The suffixes a writer may check (``.weights.h5`` Keras demands): the trailing ones that begin
    with a letter, so ``best-0.53.keras`` keeps ``.keras`` but not ``.53``."""
    m = re.search(r"(\.[A-Za-z][A-Za-z0-9_]*)+$", name[1:] if name.startswith(".") else name)
    return m.group(0) if m else ""


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` (same full suffix: ``.weights.h5``, ``.tar.gz``) that
    replaces it when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = full_suffix(target.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[: len(target.name) - len(suffix)]}.", suffix=f".tmp{suffix}",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~current_umask())  # mkstemp makes 0600; run files are as readable as any other
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise _disk_error(exc, target) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write(target: Path, data: str | bytes) -> None:
    """Write text or bytes to ``target`` all at once or not at all."""
    with atomic_path(target) as tmp:
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(tmp, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as fh:
            fh.write(data)


GIT_READ_LIMIT = 4 * 1024 * 1024
"""The most of a ``.git`` file (HEAD, a ref, packed-refs) read to find the commit."""


def _read_small(path: Path) -> str:
    """A small regular file of a repository, read with a bound (never a FIFO or a device)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.read(fd, GIT_READ_LIMIT).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _git_dir(folder: Path) -> Path | None:
    """The ``.git`` folder of the repository holding ``folder`` (a worktree's ``gitdir:`` followed)."""
    for d in (folder, *folder.parents):
        dot = d / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():
            line = _read_small(dot).strip()
            return (d / line[len("gitdir:"):].strip()).resolve() if line.startswith("gitdir:") else None
    return None


def _git_commit(folder: Path) -> dict[str, Any] | None:
    """The commit checked out in the repository holding ``folder``, read from ``.git/HEAD`` and its
    ref (or ``packed-refs``). No git command runs: a repository's own config (``core.fsmonitor``,
    hooks, filters) could make git run a program. A repository not owned by the user running kerun
    is not read at all (git's own ``safe.directory`` rule)."""
    try:
        gitdir = _git_dir(folder)
        if gitdir is None or os.stat(gitdir).st_uid != os.getuid():
            return None
        head = _read_small(gitdir / "HEAD").strip()
        if _SHA.fullmatch(head):
            return {"commit": head, "branch": None}
        if not head.startswith("ref: refs/"):
            return None
        ref = head[len("ref: "):]
        if ".." in ref or "\\" in ref:
            return None
        common = gitdir
        if (gitdir / "commondir").is_file():  # a linked worktree keeps its branches in the main repository
            common = (gitdir / _read_small(gitdir / "commondir").strip()).resolve()
        branch = ref.removeprefix("refs/heads/")
        for base in dict.fromkeys((gitdir, common)):
            if (base / ref).is_file():
                sha = _read_small(base / ref).strip()
                return {"commit": sha, "branch": branch} if _SHA.fullmatch(sha) else None
        if (common / "packed-refs").is_file():
            for line in _read_small(common / "packed-refs").splitlines():
                sha, _, name = line.partition(" ")
                if name == ref and _SHA.fullmatch(sha):
                    return {"commit": sha, "branch": branch}
        return None  # a branch without a commit yet
    except (OSError, ValueError):
        return None


_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


PICTURES_ENV = "KERUN_PICTURES"
"""``0``: the pictures of a run (training curves, confusion matrices: everything written through
:meth:`RunDir.write_with`) are not drawn. ``kerun check`` sets it for its workers when it deletes
their run folders at once (no ``--keep``): drawing them with matplotlib was about a sixth of a
check's time (benchmarks/README.md)."""


class RunDir:
    """One run's folder and its manifest. Only the chief writes (multi-worker training)."""

    def __init__(self, path: Path, manifest: dict[str, Any], *, writer: bool = True) -> None:
        self.path = path
        self.manifest = manifest
        self.writer = writer

    # -- creation ----------------------------------------------------------------------------

    @classmethod
    def create(cls, runs_dir: Path, name: str, *, run_id: str | None = None, writer: bool = True) -> "RunDir":
        """A new run folder under ``runs_dir/name``; refuses a name that would leave ``runs_dir``."""
        if not name or "/" in name or "\\" in name or name.startswith(".") or os.path.isabs(name):
            raise RunError(f"the run name {name!r} would place the run outside {runs_dir}")
        parent = (runs_dir / name).resolve()
        if runs_dir.resolve() not in parent.parents:
            raise RunError(f"the run name {name!r} would place the run outside {runs_dir}")
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        run_id = run_id or secrets.token_hex(3)
        path = parent / f"{stamp}-{run_id}"
        if writer:
            try:
                parent.mkdir(parents=True, exist_ok=True)
                path.mkdir()
            except FileExistsError:
                raise RunError(f"the run folder {path} exists already; runs are never overwritten") from None
            except OSError as exc:
                raise _disk_error(exc, path) from None
        return cls(path, {"run_id": run_id, "name": name, "status": "created"}, writer=writer)

    @classmethod
    def open(cls, path: Path) -> "RunDir":
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise RunError(f"{path} is not a kerun run folder (no {MANIFEST})", location=Location(str(path)))
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunError(f"the manifest of {path} cannot be read: {exc}") from None
        if not isinstance(manifest, dict):
            raise RunError(f"the manifest of {path} is not a JSON object; kerun did not write it",
                           location=Location(str(manifest_path)))
        return cls(path, manifest)

    def load_spec(self) -> Any:
        """The spec as this run used it; relative paths resolve from the original spec's folder."""
        from kerun.spec import load_spec

        origin = self.manifest.get("spec_path")
        return load_spec(self.file(SPEC_FILE), root=Path(origin).parent if origin else None)

    def effective_status(self) -> str:
        """The status, with a ``running`` run whose process is gone (on this host) shown as ``killed``."""
        status = str(self.manifest.get("status", "?"))
        if status == "running" and self.manifest.get("host") == socket.gethostname():
            pid = self.manifest.get("pid")
            if isinstance(pid, int) and not _alive(pid):
                return "killed"
        return status

    def remove_stale_temporaries(self) -> list[str]:
        """Temporary files a killed process left half-written (never a run's real files)."""
        removed = []
        for tmp in self.path.glob(".*.tmp*"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed.append(tmp.name)
        return removed

    def lock(self) -> None:
        """Hold the run folder for this process until :meth:`unlock` (or its end): an exclusive
        ``flock`` on ``.lock``, so a second ``--resume`` of a run being trained is refused. The file
        is removed on unlock; a lock taken on a file removed meanwhile is taken again."""
        import fcntl

        target = self.path / LOCK_FILE
        while True:
            try:
                fh = open(target, "a+b")  # a file object: the lock ends with it, even unreleased
            except OSError as exc:
                raise _disk_error(exc, target) from None
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                pid = self.manifest.get("pid")
                raise RunError(f"the run {self.path} is being trained by another process" + (f" (pid {pid})" if pid else ""),
                               hint="wait for it to end, or stop it; then resume the run") from None
            try:
                same = os.stat(target).st_ino == os.fstat(fh.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._lock = fh
                return
            fh.close()  # the holder removed the file between our open and our lock: try again

    def unlock(self) -> None:
        fh = getattr(self, "_lock", None)
        if fh is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path / LOCK_FILE)
            fh.close()  # closing the file releases the flock
            self._lock = None

    def discard(self) -> None:
        """Remove a run folder this process created and could not start (a full disk): no empty
        or manifest-less run is left behind."""
        self.unlock()
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()  # only if no other run of this name is in it

    def backed_up_epoch(self) -> int | None:
        """The number of epochs the backup holds (what ``--resume`` continues after), or None."""
        try:
            data = json.loads(_read_small(self.file(BACKUP) / "training_metadata.json"))
        except (OSError, ValueError):
            return None
        epoch = data.get("epoch") if isinstance(data, dict) else None
        return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch > 0 else None

    # -- files -------------------------------------------------------------------------------

    def file(self, name: str) -> Path:
        return self.path / name

    def write_text(self, name: str, text: str) -> None:
        if self.writer:
            atomic_write(self.file(name), text)

    def write_json(self, name: str, data: Any) -> None:
        if self.writer:
            atomic_write(self.file(name), json.dumps(data, indent=2, default=_json_default) + "\n")

    def read_json(self, name: str) -> Any:
        return json.loads(self.file(name).read_text(encoding="utf-8"))

    def save_model(self, model: Any, name: str = MODEL_FILE) -> None:
        """``model.save`` to a temporary ``.keras`` file, then renamed over the target."""
        if not self.writer:
            return
        with atomic_path(self.file(name)) as tmp:
            model.save(tmp)

    def write_with(self, name: str, writer: Callable[[Path], None]) -> None:
        """Let ``writer`` fill a temporary file (same suffix), renamed to ``name`` on success.
        Nothing is drawn when :data:`PICTURES_ENV` is ``0`` (a run folder deleted at once)."""
        if self.writer and os.environ.get(PICTURES_ENV) != "0":
            with atomic_path(self.file(name)) as tmp:
                writer(tmp)

    # -- manifest ----------------------------------------------------------------------------

    def start(self, *, spec_path: Path, overrides: tuple[str, ...], seed: int | None, extra: dict[str, Any] | None = None) -> None:
        import keras
        import tensorflow as tf

        from kerun import __version__

        now = utc_now()
        resumes = self.manifest.get("resumes", [])
        if self.manifest.get("status") not in (None, "created"):
            resumes = [*resumes, {"at": now, "from_status": self.manifest.get("status"), "command": command_line()}]
        self.manifest.update(
            {
                "status": "running",
                "command": self.manifest.get("command", command_line()),
                "spec_path": str(spec_path.resolve()),
                "overrides": list(overrides),
                "seed": seed,
                "versions": {
                    "kerun": __version__,
                    "tensorflow": tf.__version__,
                    "keras": keras.__version__,
                    "python": platform.python_version(),
                },
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "phase": "starting",
                "platform": platform.platform(),
                "git": _git_commit(spec_path.resolve().parent),
                "started_at": self.manifest.get("started_at", now),
                "ended_at": None,
                "error": None,
                "resumes": resumes,
                **(extra or {}),
            }
        )
        self.flush()

    def update(self, **fields: Any) -> None:
        self.manifest.update(fields)
        self.flush()

    def phase(self, name: str) -> None:
        """What the run is doing now; after a kill the manifest still says where it was."""
        self.update(phase=name)

    def finish(self, status: str, *, error: str | None = None, **fields: Any) -> None:
        self.manifest.update({"status": status, "ended_at": utc_now(), "error": error, "phase": "done", **fields})
        self.flush()

    def flush(self) -> None:
        self.write_json(MANIFEST, self.manifest)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _json_default(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, Path):
        return str(value)
    return str(value)
