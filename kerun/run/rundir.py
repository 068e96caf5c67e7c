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
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from kerun.errors import Location, RunError

__all__ = ["RunDir", "atomic_write", "utc_now"]

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


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` (same suffix) that replaces it when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
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


def _git_commit(folder: Path) -> dict[str, Any] | None:
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain"], capture_output=True, text=True, timeout=5)
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


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
        except (OSError, json.JSONDecodeError) as exc:
            raise RunError(f"the manifest of {path} cannot be read: {exc}") from None
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
        """Let ``writer`` fill a temporary file (same suffix), renamed to ``name`` on success."""
        if self.writer:
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
