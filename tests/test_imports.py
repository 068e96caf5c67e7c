"""The spec path never imports TensorFlow or Keras (pallets/click keeps the same kind of test)."""

from __future__ import annotations

import json
import subprocess
import sys

from kerun_testing import EXAMPLES, ROOT

HEAVY = ("tensorflow", "keras", "tf_keras", "numpy", "pandas", "jax", "torch")


def _loaded_after(code: str) -> list[str]:
    script = code + f"\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_validating_every_example_imports_no_tensorflow() -> None:
    code = "import kerun\nfrom kerun.spec import load_spec\n" + "".join(f"load_spec({str(p)!r})\n" for p in EXAMPLES)
    assert _loaded_after(code) == []


def test_cli_validate_schema_and_help_import_no_tensorflow() -> None:
    code = (
        "from typer.testing import CliRunner\nfrom kerun.cli import app\nr = CliRunner()\n"
        f"assert r.invoke(app, ['validate', {str(ROOT / 'specs')!r}]).exit_code == 0\n"
        "assert r.invoke(app, ['schema']).exit_code == 0\n"
        "assert r.invoke(app, ['--help']).exit_code == 0\n"
        f"assert r.invoke(app, ['explain', {str(EXAMPLES[0])!r}]).exit_code == 0\n"
    )
    assert _loaded_after(code) == []


def test_a_heavy_import_would_be_seen() -> None:
    # the check itself can fail: importing numpy is noticed
    assert _loaded_after("import numpy") != []
