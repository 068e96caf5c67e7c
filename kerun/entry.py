"""The ``kerun`` console script (and ``python -m kerun``).

``kerun validate`` is what editors, pre-commit hooks and CI run on every change, so its start-up is
most of its time. When its arguments are plain (spec paths, ``--set PATH=VALUE``, ``--format F``),
it is parsed here and checked by :func:`kerun.cli_plain.validate_specs`, the same function the
Typer command runs, without importing Typer (about 40 ms of a 0.22 s run). Anything else (``--help``,
an unknown option, a value that looks like an option, no spec at all) goes to the Typer app, which
parses, explains and reports errors for every command. tests/test_entry.py holds the two paths to
the same output and exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

__all__ = ["fast_validate", "main", "plain_validate_args"]


def plain_validate_args(args: Sequence[str]) -> tuple[list[Path], list[str], str] | None:
    """The specs, ``--set`` values and format of ``kerun validate ARGS`` when every argument is one
    the fast path reads exactly as click would; None otherwise (the Typer app takes it)."""
    from kerun.cli_plain import FORMATS

    specs: list[Path] = []
    overrides: list[str] = []
    fmt = "text"
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name in ("--set", "--format"):
            if not eq:
                if not rest or rest[0].startswith("-"):
                    return None
                value = rest.pop(0)
            if name == "--set":
                overrides.append(value)
            elif value in FORMATS:
                fmt = value  # the last one given counts, as in click
            else:
                return None
        elif arg.startswith("-") or not arg:
            return None
        else:
            specs.append(Path(arg))
    return (specs, overrides, fmt) if specs else None


def fast_validate(args: Sequence[str]) -> int | None:
    """Run ``kerun validate ARGS`` without Typer and return its exit code, or None (nothing done)
    when the arguments are not plain."""
    parsed = plain_validate_args(args)
    if parsed is None:
        return None
    from kerun.cli_plain import report_error, validate_specs
    from kerun.errors import KerunError

    specs, overrides, fmt = parsed
    try:
        return validate_specs(specs, overrides, fmt)
    except KerunError as exc:  # the same report as the app's handler (kerun.cli_app.KerunGroup)
        return report_error(exc, as_json=fmt == "json")


def main() -> None:
    from kerun.cli_plain import completing

    if sys.argv[1:2] == ["validate"] and not completing():
        from kerun.orchestrate.lifeline import hold

        hold()  # as kerun.cli.main does: a launched process ends with the kerun that started it
        code = fast_validate(sys.argv[2:])
        if code is not None:
            from kerun.cli_plain import exit_now

            exit_now(code)
    from kerun.cli import main as cli_main

    cli_main()
