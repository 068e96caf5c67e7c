"""The command line's parts that need no Typer: ``kerun validate``'s work, shared by the Typer
command (:mod:`kerun.cli`) and the console script's fast path (:mod:`kerun.entry`), which checks
specs without importing Typer at all; how a user error is reported; how a printing command ends.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from kerun.errors import KerunError, Problem, SpecError

__all__ = ["FORMATS", "completing", "err", "exit_now", "expand_specs", "report_error", "validate_specs"]

FORMATS = ("text", "json", "github")


def err(text: str) -> None:
    """A line for the user on stderr (the errors and progress of commands)."""
    sys.stderr.write(text + ("\n" if not text.endswith("\n") else ""))
    sys.stderr.flush()


def expand_specs(paths: Sequence[Path]) -> list[Path]:
    """Files as given; folders become the spec files below them, sorted (kerun.spec.discover);
    the other YAML files there are named on stderr as skipped."""
    from kerun.spec.discover import find_specs

    found = find_specs(list(paths))
    for file, why in found.skipped:
        err(f"skipped {file}: {why}")
    return found.specs


def report_error(exc: KerunError, as_json: bool) -> int:
    """Print a user error (as JSON on stdout when the command was asked for JSON, else on stderr)
    and return its exit code."""
    from kerun.console import error_text

    text = error_text(exc, as_json=as_json)
    if as_json:
        print(text)
    else:
        err(text)
    return exc.exit_code


def validate_specs(specs: Sequence[Path], overrides: Sequence[str], fmt: str) -> int:
    """Check every spec (files, or folders of them) and print the problems in ``fmt`` (one of
    :data:`FORMATS`); the exit code: 2 when one is invalid, else 0."""
    from kerun.console import problems_text
    from kerun.spec import load_spec
    from kerun.spec.plugin_warnings import plugin_warnings

    files = expand_specs(specs)
    if not files:  # a CI job pointed at the wrong folder fails rather than passing on nothing (as kerun check)
        if fmt == "json":
            print(json.dumps({"valid": False, "specs": []}, indent=2))
        err("kerun validate: no spec files found in " + ", ".join(map(str, specs)))
        return 2
    results: list[dict[str, Any]] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for file in files:
        try:
            found = plugin_warnings(load_spec(file, list(overrides)))
            warnings.extend(found)
            results.append({"file": str(file), "valid": True, "problems": [], "warnings": [p.to_dict() for p in found]})
        except SpecError as exc:
            problems.extend(exc.problems)
            results.append({"file": str(file), "valid": False, "problems": [p.to_dict() for p in exc.problems]})
    invalid = sum(1 for r in results if not r["valid"])
    if fmt == "json":
        print(json.dumps({"valid": invalid == 0, "specs": results}, indent=2))
    else:
        if problems:
            print(problems_text(problems, fmt))
        if warnings:  # GitHub annotates them as warnings, not errors
            text = problems_text(warnings, fmt)
            print(text.replace("::error ", "::warning ") if fmt == "github" else text)
        if fmt == "text":
            summary = f"{len(files) - invalid} of {len(files)} spec{'s' if len(files) != 1 else ''} valid"
            (err if invalid else print)(summary if invalid else f"ok: {summary}")
    return 2 if invalid else 0


def exit_now(code: Any) -> None:
    """End the process with ``code`` (a ``SystemExit`` code) once stdout and stderr are flushed,
    without the interpreter's clean-up: freeing every module and pydantic schema one by one took
    about 30 ms of a 0.29 s ``kerun validate`` (mypy ends the same way). When the flush fails (a
    closed pipe) the exit is left to Python, which reports it as before."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        sys.stderr.write(f"{code}\n")
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None
    os._exit(status)


def completing() -> bool:
    """The shell is asking for completions (Typer's ``_KERUN_COMPLETE``): the whole app answers."""
    return any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ)
