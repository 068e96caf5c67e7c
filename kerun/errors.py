"""Every error kerun reports on purpose, in one tree.

::

    KerunError                 exit_code 1; anything kerun explains instead of crashing
    ├── SpecError              exit 2; one or more Problems, each at a file, line and column
    ├── PluginError            exit 2; a plugin that cannot be found or imported
    ├── BuildError             exit 2; Keras refused an entry while building the model
    ├── DataError              exit 2; data that is missing, corrupt or does not fit the model
    ├── InteropError           exit 2; a model that cannot come in as a spec, or an export that fails
    ├── RunError               exit 1; training, evaluation or the run directory failed
    └── Interrupted            exit 130; Ctrl-C or SIGTERM stopped training, the run can be resumed

Anything else raised out of kerun is a bug in kerun and keeps its traceback: the command line's
single handler (:mod:`kerun.cli`) catches :class:`KerunError` only.

A :class:`Problem` is one finding: where (a :class:`Location`), at which dotted spec path, what is
wrong, and how to fix it. Messages are rendered GCC style so editors and CI annotate them::

    specs/cnn.yaml:14:9: model.layers[2].units: expected a positive integer, got -3
      did you mean 'Conv2D'?

This module uses the standard library only: it is imported by the TensorFlow-free spec layer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

__all__ = [
    "BuildError",
    "DataError",
    "Interrupted",
    "InteropError",
    "KerunError",
    "Location",
    "PluginError",
    "Problem",
    "RunError",
    "SpecError",
    "format_path",
    "parse_path",
]


@dataclass(frozen=True, order=True)
class Location:
    """A place in a spec file (lines and columns count from 1) or in a ``--set`` override."""

    file: str
    line: int | None = None
    column: int | None = None
    # How the value got here when it was not written in the spec given: "inherited: extended by
    # child.yaml:1:10", "in block 'down', used by model.layers[4] (d1) at spec.yaml:38:7".
    note: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


def format_path(path: Sequence[str | int]) -> str:
    """``("model", "layers", 2, "units")`` -> ``model.layers[2].units``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_PATH_PART = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def parse_path(text: str) -> tuple[str | int, ...]:
    """The inverse of :func:`format_path`: ``model.layers[2].units`` -> ``("model", "layers", 2, "units")``."""
    return tuple(int(m.group(1)) if m.group(1) is not None else m.group(2) for m in _PATH_PART.finditer(text))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, with where it is and how to fix it."""

    message: str
    location: Location | None = None
    path: tuple[str | int, ...] = ()
    hint: str | None = None

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        if loc is None:
            return ("", 0, 0, self.message)
        return (loc.file, loc.line or 0, loc.column or 0, self.message)

    def render(self) -> str:
        head = f"{self.location}: " if self.location else ""
        where = f"{format_path(self.path)}: " if self.path else ""
        text = f"{head}{where}{self.message}"
        if self.hint:
            text += "\n  " + self.hint.replace("\n", "\n  ")
        if self.location is not None and self.location.note:
            text += "\n  " + self.location.note
        return text

    def to_dict(self, *, parts: bool = False) -> dict[str, Any]:
        """The problem as JSON data; ``parts=True`` adds ``path_parts``, the path exactly (a key of
        ``sweep.space`` holds dots), for a child process reporting to its parent."""
        loc = self.location
        out: dict[str, Any] = {
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "path": format_path(self.path),
            "message": self.message,
            "hint": self.hint,
            "note": loc.note if loc else None,
        }
        if parts:
            out["path_parts"] = list(self.path)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Problem":
        """The Problem that :meth:`to_dict` wrote (a child process's report): ``path_parts``, when
        given, keeps the path exactly; otherwise the dotted ``path`` is parsed back."""
        file = data.get("file")
        parts = data.get("path_parts")
        return cls(
            message=data["message"],
            location=Location(file, data.get("line"), data.get("column"), data.get("note")) if file else None,
            path=tuple(parts) if parts is not None else parse_path(data.get("path") or ""),
            hint=data.get("hint"),
        )

    def render_github(self) -> str:
        """A GitHub Actions workflow command that annotates the line."""
        loc = self.location
        props = []
        if loc is not None:
            props.append(f"file={github_property(str(loc.file))}")
            if loc.line is not None:
                props.append(f"line={loc.line}")
            if loc.column is not None:
                props.append(f"col={loc.column}")
        body = (f"{format_path(self.path)}: " if self.path else "") + self.message
        if self.hint:
            body += "\n" + self.hint
        if loc is not None and loc.note:
            body += "\n" + loc.note
        return "::error" + (" " + ",".join(props) if props else "") + "::" + github_data(body)


def github_data(text: str) -> str:
    """A workflow command's message escaped as GitHub's @actions/core ``escapeData`` does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    """A workflow command's property value escaped as @actions/core ``escapeProperty`` does:
    ``:`` and ``,`` would otherwise end the value (``file=a,b.yaml`` is ``file=a%2Cb.yaml``)."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


class KerunError(Exception):
    """Base of every error kerun reports without a traceback."""

    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        path: Sequence[str | int] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.problems: list[Problem] = [
            Problem(message=message, location=location, path=tuple(path), hint=hint)
        ]

    @property
    def message(self) -> str:
        return self.problems[0].message

    @property
    def location(self) -> Location | None:
        return self.problems[0].location

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)

    def raised_in(self, origin: str) -> None:
        """Say where plugin code raised the exception this error explains (``cells.py:12 in
        NestedCell.build``), unless its problems say so already."""
        first = self.problems[0]
        place = origin.split(" in ", 1)[0]  # cells.py:12
        if not any(place in (p.message + (p.hint or "")) for p in self.problems):
            self.problems[0] = replace(first, message=f"{first.message} (raised at {origin})")

    def __str__(self) -> str:
        return self.render()

    def to_json(self) -> str:
        return json.dumps({"error": type(self).__name__, "problems": [p.to_dict() for p in self.problems]})


class SpecError(KerunError):
    """A spec that cannot be read or does not follow the format: every problem found, by line."""

    exit_code = 2

    @classmethod
    def from_problems(cls, problems: Iterable[Problem]) -> "SpecError":
        found = sorted(set(problems), key=Problem.sort_key)
        if not found:
            raise ValueError("SpecError needs at least one problem")
        if len(found) > MAX_PROBLEMS:  # 30,000 bad entries are not 60,000 lines on a terminal
            more = len(found) - MAX_PROBLEMS
            where = Location(found[0].location.file) if found[0].location else None
            found = found[:MAX_PROBLEMS] + [Problem(
                f"... and {more:,} more problem{'s' if more != 1 else ''} (the first {MAX_PROBLEMS} are shown)",
                location=where, hint="fix these first; the same mistake repeated is often one fix")]
        err = cls(found[0].message, location=found[0].location, path=found[0].path, hint=found[0].hint)
        err.problems = found
        return err


MAX_PROBLEMS = 100
"""The most problems one SpecError reports; past it, one last problem says how many more there are."""


class PluginError(KerunError):
    """A plugin listed in a spec could not be found or imported."""

    exit_code = 2


class BuildError(KerunError):
    """Keras refused a spec entry while the model was being built."""

    exit_code = 2


class DataError(KerunError):
    """Data that is missing, corrupt, or does not fit the model's inputs and outputs."""

    exit_code = 2


class RunError(KerunError):
    """Training, evaluation, prediction or the run directory failed."""

    exit_code = 1


class InteropError(KerunError):
    """A model that cannot be brought in as a spec, or an export that cannot be made or checked."""

    exit_code = 2


class Interrupted(KerunError):
    """Training was stopped by Ctrl-C or SIGTERM; the run is kept and can be resumed."""

    exit_code = 130
