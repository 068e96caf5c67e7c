"""Run files follow the umask in force when they are written; importing kerun changes no umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import kerun.run.rundir as rundir


def test_import_does_not_touch_the_umask() -> None:
    # a fresh interpreter (kerun.run.rundir imports no TensorFlow: a fraction of a second)
    code = ("import os; calls = []; real = os.umask\n"
            "os.umask = lambda mask: calls.append(mask) or real(mask)\n"
            "import kerun.run.rundir; print(calls)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_atomic_write_uses_the_umask_of_the_moment(tmp_path: Path) -> None:
    before = os.umask(0o027)  # set after kerun.run.rundir was imported
    try:
        rundir.atomic_write(tmp_path / "a.txt", "x")
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
        assert rundir.current_umask() == 0o027
    finally:
        os.umask(before)
    assert rundir.current_umask() == before
