"""``kerun validate`` of specs with ``extends:`` and ``blocks:`` against the same specs written out
plain, in the same run (ratios, not absolute times, are what to read on a shared machine).

    python benchmarks/validate_compose.py [--repeats 7] [--inner 50]

Pairs: ``iris_wide.yaml`` (extends iris_mlp.yaml) against its resolved copy, and
``xception_blocks.yaml`` (one block used twice) against its expansion written as a plain spec.
Two measures: ``load_spec`` in one process (median of --inner calls, after one warm-up), and a
fresh ``kerun validate`` process (median of --repeats); in both the variants alternate.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def plain_copies(folder: Path) -> dict[str, tuple[Path, Path]]:
    from kerun.spec import dump_yaml, load_spec

    pairs = {}
    for name in ("iris_wide", "xception_blocks"):
        loaded = load_spec(SPECS / f"{name}.yaml")
        plain = folder / f"{name}_plain.yaml"
        plain.write_text(dump_yaml(loaded.doc.data), encoding="utf-8")  # bases merged, blocks expanded
        load_spec(plain)
        pairs[name] = (SPECS / f"{name}.yaml", plain)
    return pairs


def in_process(a: Path, b: Path, inner: int) -> tuple[float, float]:
    """Medians of ``load_spec`` of ``a`` and of ``b``, called alternately (the same load on both)."""
    from kerun.spec import load_spec

    load_spec(a), load_spec(b)
    times: dict[Path, list[float]] = {a: [], b: []}
    for i in range(inner):
        for path in ((a, b) if i % 2 == 0 else (b, a)):
            t0 = time.perf_counter()
            load_spec(path)
            times[path].append(time.perf_counter() - t0)
    return statistics.median(times[a]), statistics.median(times[b])


def fresh(path: Path) -> float:
    kerun = Path(sys.executable).with_name("kerun")
    t0 = time.perf_counter()
    done = subprocess.run([str(kerun), "validate", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kerun validate {path} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--inner", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pairs = plain_copies(Path(tmp))
        print(f"{'spec':18} {'load_spec composed':>19} {'plain':>8} {'ratio':>6}   {'validate composed':>18} {'plain':>8} {'ratio':>6}")
        for name, (composed, plain) in pairs.items():
            a, b = in_process(composed, plain, args.inner)
            runs: dict[str, list[float]] = {"c": [], "p": []}
            for i in range(args.repeats):
                order = [("c", composed), ("p", plain)] if i % 2 == 0 else [("p", plain), ("c", composed)]
                for key, path in order:
                    runs[key].append(fresh(path))
            fc, fp = statistics.median(runs["c"]), statistics.median(runs["p"])
            print(f"{name:18} {a * 1000:16.2f} ms {b * 1000:5.2f} ms {a / b:6.2f}   {fc:15.3f} s {fp:5.3f} s {fc / fp:6.2f}")


if __name__ == "__main__":
    main()
