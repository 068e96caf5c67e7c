"""What a run needs to be repeated besides its spec: the data it read and the packages installed.

The manifest's ``data`` lists every file or folder a source read: its path, size, modification
time, row count and a content hash that stays cheap on large files (the whole file up to 64 MiB;
above that, its size and three 4 MiB samples: start, middle, end - a changed byte outside the
samples is missed, any change of size or of those regions is not). A folder (images, text) is
fingerprinted by the names, sizes and modification times of the files in it. ``packages.txt`` in
the run folder is the installed distributions, one ``name==version`` a line, as ``pip freeze``
writes them. ``data_changes`` tells a resumed or repeated run what differs from the recorded data.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import stat
from importlib import metadata
from pathlib import Path
from typing import Any

from kerun.run.rundir import PACKAGES
from kerun.spec import LoadedSpec

__all__ = ["PACKAGES", "data_changes", "fingerprint", "fingerprint_sources", "installed_packages"]

WHOLE_LIMIT = 64 << 20  # files up to this size are hashed whole
SAMPLE = 4 << 20  # above it, three samples of this size
MAX_FOLDER_FILES = 200_000  # a folder with more files is fingerprinted by its first ones, said so


def _mtime(st: os.stat_result) -> str:
    return _dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _file_hash(path: Path, size: int) -> tuple[str, str]:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        if size <= WHOLE_LIMIT:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
            return "blake2b", h.hexdigest()
        h.update(str(size).encode())
        for offset in (0, size // 2 - SAMPLE // 2, size - SAMPLE):
            fh.seek(offset)
            h.update(fh.read(SAMPLE))
    return "blake2b-sampled", h.hexdigest()


def _folder_hash(path: Path) -> tuple[str, int, int, bool]:
    """A hash over the relative names, sizes and mtimes of the files below ``path``."""
    entries: list[tuple[str, int, int]] = []
    truncated = False
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            if len(entries) >= MAX_FOLDER_FILES:
                truncated = True
                break
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            entries.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
        if truncated:
            break
    h = hashlib.blake2b(digest_size=16)
    for rel, size, mtime in entries:
        h.update(f"{rel}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest(), len(entries), sum(e[1] for e in entries), truncated


def fingerprint(path: Path) -> dict[str, Any]:
    """Path, size, modification time and content hash of a data file or folder."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return {"path": str(path), "error": exc.strerror or str(exc)}
    record: dict[str, Any] = {"path": str(path), "modified": _mtime(st)}
    if stat.S_ISDIR(st.st_mode):
        digest, files, size, truncated = _folder_hash(path)
        record.update(kind="folder", files=files, size=size, hash=f"blake2b-listing:{digest}")
        if truncated:
            record["note"] = f"only the first {MAX_FOLDER_FILES} files are in the hash"
    elif stat.S_ISREG(st.st_mode):
        algorithm, digest = _file_hash(path, st.st_size)
        record.update(kind="file", size=st.st_size, hash=f"{algorithm}:{digest}")
    else:
        record.update(kind="other")
    return record


def fingerprint_sources(loaded: LoadedSpec) -> list[dict[str, Any]]:
    """One record per source of the spec that reads a path (sources of scikit-learn, Keras or
    synthetic data read none)."""
    data = loaded.spec.data
    if data is None:
        return []
    out = []
    for split in ("train", "validation", "test"):
        source = getattr(data, split)
        raw = getattr(source, "path", None) if source is not None else None
        if isinstance(raw, str):
            out.append({"split": split, "type": source.type, **fingerprint(loaded.resolve(raw).resolve())})
    return out


def installed_packages() -> str:
    """``pip freeze``'s view of the running environment, without running pip; read once per
    interpreter and ``sys.path`` (a warm worker of ``kerun check`` or ``kerun sweep`` runs spec
    after spec in the same environment: the scan of every distribution took 0.2-0.9 s each)."""
    import sys

    key = tuple(sys.path)
    if key not in _PACKAGES_READ:
        _PACKAGES_READ.clear()
        _PACKAGES_READ[key] = _read_packages()
    return _PACKAGES_READ[key]


_PACKAGES_READ: dict[tuple[str, ...], str] = {}


def _read_packages() -> str:
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    return "".join(line + "\n" for _, line in sorted(seen.items()))


def data_changes(recorded: list[dict[str, Any]] | None, current: list[dict[str, Any]]) -> list[str]:
    """What differs between the data a run recorded and the data there now, one line each."""
    if not recorded:
        return []
    before = {(r.get("split"), r.get("path")): r for r in recorded if isinstance(r, dict)}
    lines = []
    for now in current:
        old = before.get((now.get("split"), now.get("path")))
        if old is None:
            lines.append(f"{now['split']}: {now['path']} was not read by the recorded run")
            continue
        if "error" in now:
            lines.append(f"{now['split']}: {now['path']} cannot be read now ({now['error']})")
        elif old.get("hash") != now.get("hash") or old.get("size") != now.get("size"):
            lines.append(f"{now['split']}: {now['path']} changed (size {old.get('size')} -> {now.get('size')}, "
                         f"modified {old.get('modified')} -> {now.get('modified')})")
    paths_now = {(r.get("split"), r.get("path")) for r in current}
    for key, old in before.items():
        if key not in paths_now:
            lines.append(f"{key[0]}: the recorded run read {key[1]}, this one does not")
    return lines
