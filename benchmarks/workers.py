"""Warm workers against one process per spec or trial (issue 18), every ratio measured in one run.
Run by hand, never in the test suite::

    python benchmarks/workers.py                 # one round: about 6-10 minutes on two cores
    python benchmarks/workers.py --repeats 3     # medians of three rounds, variants alternating
    python benchmarks/workers.py --only check6 --only sweep

What is measured (wall time of a fresh ``kerun`` process, from start to exit):

- ``import``: ``python -c "import tensorflow, keras"``, the floor;
- ``check6``: ``kerun check`` of a folder of 6 small specs (synthetic data, a Dense layer or two)
  with one job; the promise: at most 3x ``import``;
- ``examples``: ``kerun check`` of the top-level examples in ``specs/`` with ``--jobs 2``, warm
  against ``--isolate``; the promise: warm at least 2.5x faster;
- ``sweep``: a 12-trial sweep of a small spec (iris, 2 epochs), warm against ``--isolate``; the
  promise: warm at least 1.5x faster.

Within a round the variants run one after the other in a rotated order, so the load of other
processes falls on all of them; the ratios of each round are printed, then the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
PY = sys.executable

SMALL = """\
name: small-{i}
seed: {i}
data:
  train: {{type: synthetic, size: 256, fields: {{x: {{shape: [{width}]}}, label: {{classes: 3}}}}}}
  validation: {{split: 0.25}}
model:
  inputs: {{x: [{width}]}}
  layers:
{layers}
compile: {{optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}}
train: {{epochs: 3, batch_size: 16}}
"""


def small_specs(folder: Path, n: int = 6) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        layers = [f"    - {{type: Dense, units: {8 * (i + 1)}, activation: relu}}"] * (1 + i % 2)
        layers.append("    - {type: Dense, units: 3, activation: softmax}")
        (folder / f"small_{i}.yaml").write_text(SMALL.format(i=i, width=4 + i, layers="\n".join(layers)))
    return folder


def timed(args: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0,):
        sys.exit(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return seconds


def kerun(*args: str) -> list[str]:
    return [PY, "-m", "kerun", *args]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", action="append", choices=["check6", "examples", "sweep"])
    parser.add_argument("--out", type=Path, help="write the raw seconds here as JSON")
    args = parser.parse_args()
    only = set(args.only or ["check6", "examples", "sweep"])
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "kerun")], check=True)  # as an install has it
    tmp = Path(tempfile.mkdtemp(prefix="kerun-bench-workers-"))
    six = small_specs(tmp / "six")
    examples = sorted(SPECS.glob("*.yaml"))
    runs = tmp / "runs"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    variants: dict[str, list[str]] = {"import": [PY, "-c", "import tensorflow, keras"]}
    if "check6" in only:
        variants["check6"] = kerun("check", str(six), "--steps", "5")
    if "examples" in only:
        variants["examples warm"] = kerun("check", *map(str, examples), "--jobs", "2", "--steps", "2")
        variants["examples isolate"] = kerun("check", *map(str, examples), "--jobs", "2", "--steps", "2", "--isolate")
    if "sweep" in only:
        sweep = [str(SPECS / "iris_sweep.yaml"), "--set", "sweep.trials=12", "--set", "train.epochs=2", "--new"]
        variants["sweep warm"] = kerun("sweep", *sweep, "--runs-dir", str(runs))
        variants["sweep isolate"] = kerun("sweep", *sweep, "--runs-dir", str(runs), "--isolate")
    names = list(variants)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    print(f"{len(examples)} examples; {args.repeats} round(s); {os.cpu_count()} cores", flush=True)
    for r in range(args.repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            s = timed(variants[name], env)
            seconds[name].append(s)
            print(f"round {r + 1}: {name:<17} {s:7.1f} s", flush=True)
        shutil.rmtree(runs, ignore_errors=True)
    med = {n: statistics.median(v) for n, v in seconds.items()}
    print("\nmedians:", ", ".join(f"{n} {v:.1f} s" for n, v in med.items()))
    if "check6" in med:
        print(f"check of 6 small specs, 1 job / bare TensorFlow import: {med['check6'] / med['import']:.2f}x (promise: at most 3x)")
    if "examples warm" in med:
        print(f"{len(examples)} examples, --jobs 2: --isolate / warm: {med['examples isolate'] / med['examples warm']:.2f}x "
              "(promise: at least 2.5x)")
    if "sweep warm" in med:
        print(f"12-trial sweep: --isolate / warm: {med['sweep isolate'] / med['sweep warm']:.2f}x (promise: at least 1.5x)")
    if args.out:
        args.out.write_text(json.dumps({"seconds": seconds, "examples": [str(e.relative_to(ROOT)) for e in examples]}, indent=2) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
