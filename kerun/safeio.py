"""Reading files a spec names without hanging or reading without bound.

A FIFO blocks ``open`` until someone writes to it; ``/dev/zero`` (or a symbolic link to it) never
ends. Every file kerun reads on a user's word is first checked to be a regular file (symbolic links
followed), and a whole-file read stops one byte past its limit. TensorFlow-free; ground level.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["NotReadable", "check_regular", "read_bounded", "why_not_regular"]


class NotReadable(Exception):
    """The path cannot be read as a file; ``reason`` says why in words for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return "not a regular file"


def _os_reason(exc: OSError | ValueError) -> str:
    if isinstance(exc, ValueError):
        return "the path contains a NUL character"
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno == errno.ENAMETOOLONG:
        return "the path is too long"
    if exc.errno == errno.ELOOP:
        return "the path has a loop of symbolic links"
    return f"cannot read it: {exc.strerror or exc}"


def why_not_regular(path: str | Path, *, folders: bool = False) -> str | None:
    """None when ``path`` is a regular file (or, with ``folders``, a folder); else why not."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError) as exc:
        return _os_reason(exc)
    except UnicodeEncodeError:
        return "the path contains characters that are not valid text"
    if stat.S_ISREG(mode) or (folders and stat.S_ISDIR(mode)):
        return None
    return _kind(mode)


def check_regular(path: str | Path, *, folders: bool = False) -> None:
    """Raise :class:`NotReadable` unless ``path`` is a regular file (or a folder, if allowed)."""
    reason = why_not_regular(path, folders=folders)
    if reason is not None:
        raise NotReadable(reason)


def read_bounded(path: str | Path, limit: int) -> bytes:
    """The whole file, if it is a regular file of at most ``limit`` bytes; else :class:`NotReadable`.
    Opened without blocking (a FIFO is refused, not waited on) and checked on the open file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError) as exc:
        raise NotReadable("this is a folder, not a file" if getattr(exc, "errno", None) == errno.EISDIR else _os_reason(exc)) from None
    except UnicodeEncodeError:
        raise NotReadable("the path contains characters that are not valid text") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotReadable(_kind(info.st_mode))
        if info.st_size > limit:
            raise NotReadable(f"the file is larger than {_size(limit)}")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # grew while read
            raise NotReadable(f"the file is larger than {_size(limit)}")
        return b"".join(chunks)
    except OSError as exc:
        raise NotReadable(_os_reason(exc)) from None
    finally:
        os.close(fd)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"
