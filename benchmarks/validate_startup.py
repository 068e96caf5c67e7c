"""`kerun validate` start-up against a bare `python -c "import pydantic, yaml"`, in the same run.

Run by hand, never in the test suite::

    python benchmarks/validate_startup.py [--repeats 21] [--spec specs/iris_mlp.yaml] [--json OUT.json]

Every command is a fresh process; the commands alternate in a rotated order each round, so that
load from other processes falls on all of them, and the ratio is of the medians (in brackets the
smallest and largest ratio within one round, the noise to judge it by). Besides the command itself
it times the parts, so the cost of each is known:

- ``import kerun.cli``: Typer, click (vendored by Typer 0.29) and the command table;
- ``import kerun.spec``: pydantic's BaseModel machinery and the spec classes (their schemas are
  built at import);
- ``load_spec(SPEC)``: the spec layer's import and its checks, without the command line;
- ``one pydantic model``: a BaseModel with one Field declared and validated once, the floor of
  any command that checks with pydantic (``import pydantic`` alone imports almost nothing of it);
- ``kerun validate SPEC, through Typer``: the same command parsed by the Typer app (what the
  console script does for any other command, or for arguments its fast path does not read).

kerun's byte-code is compiled first, as an installed package has it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TARGET = 2.0

# The floor of any command that checks with pydantic: one BaseModel declared with a Field and
# validated once (pydantic.fields, pydantic.types, the schema generator and pydantic-core's
# validator), nothing of kerun's.
ONE_MODEL = "from pydantic import BaseModel, Field\nclass A(BaseModel):\n    x: int = Field(1)\nA(x=2)"


def kerun_script() -> list[str]:
    script = Path(PY).parent / "kerun"
    return [str(script)] if script.exists() else [PY, "-m", "kerun"]


def commands(spec: str) -> dict[str, list[str]]:
    return {
        "python -c 'import pydantic, yaml'": [PY, "-c", "import pydantic, yaml"],
        "kerun validate SPEC": [*kerun_script(), "validate", spec],
        "python -c pass": [PY, "-c", "pass"],
        "one pydantic model": [PY, "-c", ONE_MODEL],
        "import kerun.cli": [PY, "-c", "import kerun.cli"],
        "import kerun.spec": [PY, "-c", "import kerun.spec"],
        "load_spec(SPEC)": [PY, "-c", f"from kerun.spec import load_spec; load_spec({spec!r})"],
        "kerun validate SPEC, through Typer": [PY, "-c", f"import sys; sys.argv = ['kerun', 'validate', {spec!r}]\nfrom kerun.cli import main; main()"],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--spec", default=str(ROOT / "specs" / "iris_mlp.yaml"))
    p.add_argument("--json", type=Path, help="also write the raw times here")
    args = p.parse_args()
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "kerun")], check=True, stdout=subprocess.DEVNULL)
    cmds = commands(args.spec)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # use the compiled byte-code, as an install would
    times: dict[str, list[float]] = {k: [] for k in cmds}
    labels = list(cmds)
    for r in range(args.repeats):
        k = r % len(labels)
        for label in labels[k:] + labels[:k]:
            t = time.perf_counter()
            proc = subprocess.run(cmds[label], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
            times[label].append(time.perf_counter() - t)
            if proc.returncode != 0:
                sys.exit(f"{label} failed: {proc.stderr.decode()[-2000:]}")
    base_label = labels[0]
    base = times[base_label]
    print(f"{args.repeats} fresh processes each, medians (ratio to {base_label}; min-max ratio within a round)")
    for label, v in times.items():
        ratios = [a / b for a, b in zip(v, base)]
        print(f"  {label:36s} {statistics.median(v):6.3f}s  {statistics.median(v) / statistics.median(base):5.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f})")
    ratio = statistics.median(times["kerun validate SPEC"]) / statistics.median(base)
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"kerun validate: {ratio:.2f}x a bare import of pydantic and yaml; {verdict} the target of {TARGET:g}x")
    if args.json:
        args.json.write_text(json.dumps(times, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
