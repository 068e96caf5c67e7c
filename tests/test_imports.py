"""The validate path loads only what it always has: an allow-list (pallets/click keeps such a test).

What ``kerun validate``, ``kerun schema``, ``kerun explain`` and ``--help`` load is recorded in a
fresh interpreter; any package outside the standard library that is not on the list below fails the
test (TensorFlow, Keras, NumPy above all), and so does any kerun package beyond the spec layer.
A new dependency on this path is a decision: add it here, with the start-up it costs
(benchmarks/validate_startup.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

from kerun_testing import EXAMPLES, ROOT

ALLOWED_PACKAGES = {
    "kerun",
    "typer", "shellingham", "annotated_doc",  # the command line (Typer vendors click)
    "pydantic", "pydantic_core", "annotated_types", "typing_extensions", "typing_inspection",  # the spec models
    "yaml", "_cython_3_3_1", "cython_runtime",  # PyYAML's C loader
}
# the kerun modules the TensorFlow-free path may load: the ground floor, the spec layer, the CLI
ALLOWED_KERUN = ("kerun", "kerun.errors", "kerun.safeio", "kerun.spec", "kerun.cli", "kerun.cli_app", "kerun.cli_interop",
                 "kerun.cli_plain", "kerun.entry", "kerun.console")


def _loaded_after(code: str) -> tuple[list[str], list[str]]:
    """The packages outside the standard library, and the kerun modules, that ``code`` loads."""
    script = (code + "\nimport sys, json\n"
              "print(json.dumps([sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)),"
              " sorted(m for m in sys.modules if m.split('.')[0] == 'kerun')]))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    packages, kerun_modules = json.loads(out.stdout.strip().splitlines()[-1])
    return packages, kerun_modules


def _unexpected(packages: list[str], kerun_modules: list[str]) -> list[str]:
    bad = [p for p in packages if p not in ALLOWED_PACKAGES and not p.startswith("_")]
    bad += [m for m in kerun_modules
            if m != "kerun" and not any(m == a or m.startswith(a + ".") for a in ALLOWED_KERUN if a != "kerun")]
    return bad


def test_validating_every_example_loads_only_the_allowed() -> None:
    code = "import kerun\nfrom kerun.spec import load_spec\n" + "".join(f"load_spec({str(p)!r})\n" for p in EXAMPLES)
    assert _unexpected(*_loaded_after(code)) == []


def test_cli_validate_schema_explain_and_help_load_only_the_allowed() -> None:
    code = (
        "from typer.testing import CliRunner\nfrom kerun.cli import app\nr = CliRunner()\n"
        f"assert r.invoke(app, ['validate', {str(ROOT / 'specs')!r}]).exit_code == 0\n"
        "assert r.invoke(app, ['schema']).exit_code == 0\n"
        "assert r.invoke(app, ['--help']).exit_code == 0\n"
        f"assert r.invoke(app, ['explain', {str(EXAMPLES[0])!r}]).exit_code == 0\n"
    )
    packages, kerun_modules = _loaded_after(code)
    assert _unexpected(packages, kerun_modules) == []
    assert "kerun.spec" in kerun_modules and "pydantic" in packages  # the recording sees the path


def test_anything_new_would_be_seen() -> None:
    # the check itself can fail: numpy, or a kerun package that imports TensorFlow, is noticed
    assert _unexpected(*_loaded_after("import numpy")) != []
    assert _unexpected(*_loaded_after("import kerun.run.rundir")) == ["kerun.run", "kerun.run.rundir"]
