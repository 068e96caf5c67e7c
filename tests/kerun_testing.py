"""Paths the tests share (a module of its own: 'conftest' names clash between folders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
EXAMPLES = sorted(SPECS.glob("*.yaml"))


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
