"""Peak memory of one training epoch on a generated CSV of about 200 MB and of about 2 GB.

The promise (README, Data): a CSV larger than memory streams, so the 2 GB file may cost at most
10% more peak memory than the 200 MB one. Run by hand, not in the test suite:

    python benchmarks/csv_memory.py [--small-mb 200] [--large-mb 2000] [--keep DIR]

Each measurement is a fresh `kerun train` process; its peak resident memory (ru_maxrss) is read by
a small parent process, so nothing else is counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COLUMNS = 64
SPEC = """\
name: csv-memory
seed: 0
data:
  train: {{type: csv, path: {path}, label: label{stream}}}
  validation: {{split: 0.1}}
model:
  inputs: {{features: [{columns}]}}
  layers:
    - {{type: Dense, units: 64, activation: relu}}
    - {{type: Dense, units: 10, activation: softmax}}
compile: {{optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}}
train: {{epochs: 1, batch_size: 1024}}
"""


def write_csv(path: Path, megabytes: int) -> int:
    """Rows of 64 features (4 decimals) and a label, appended in blocks until the size is reached."""
    rng = np.random.default_rng(0)
    header = ",".join(f"f{i}" for i in range(COLUMNS)) + ",label\n"
    rows = 0
    with open(path, "w") as fh:
        fh.write(header)
        while fh.tell() < megabytes * 1024 * 1024:
            block = rng.uniform(0, 1, size=(20_000, COLUMNS))
            labels = rng.integers(0, 10, size=(20_000, 1))
            text = "\n".join(",".join(f"{v:.4f}" for v in row) + f",{int(lab[0])}" for row, lab in zip(block, labels))
            fh.write(text + "\n")
            rows += len(block)
    return rows


def peak_memory_mb(spec: Path, runs: Path) -> tuple[float, float]:
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "if p.returncode: sys.exit(p.stderr[-2000:])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.perf_counter() - t)\n"
    )
    cmd = [sys.executable, "-c", code, sys.executable, "-m", "kerun", "train", str(spec), "--runs-dir", str(runs), "--quiet"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small-mb", type=int, default=200)
    parser.add_argument("--large-mb", type=int, default=2000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated files here")
    parser.add_argument("--stream", action="store_true",
                        help="stream both files (by default only files over 256 MiB stream, so the small one is read whole)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="kerun-csv-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    for label, mb in (("small", args.small_mb), ("large", args.large_mb)):
        csv_path = folder / f"{label}.csv"
        t0 = time.perf_counter()
        rows = write_csv(csv_path, mb) if not csv_path.exists() else sum(1 for _ in open(csv_path)) - 1
        size = csv_path.stat().st_size / 1024 / 1024
        spec = folder / f"{label}.yaml"
        spec.write_text(SPEC.format(path=csv_path, columns=COLUMNS, stream=", stream: true" if args.stream else ""))
        peak, seconds = peak_memory_mb(spec, folder / "runs")
        results[label] = {"file_mb": round(size, 1), "rows": rows, "peak_rss_mb": round(peak, 1), "train_seconds": round(seconds, 1)}
        print(f"{label}: {size:,.0f} MB, {rows:,} rows -> peak {peak:,.0f} MB, {seconds:.0f} s (generated in {time.perf_counter() - t0:.0f} s)", flush=True)
    ratio = results["large"]["peak_rss_mb"] / results["small"]["peak_rss_mb"]
    results["ratio"] = round(ratio, 3)
    print(f"peak memory, large / small: {ratio:.3f} (promise: at most 1.10)")
    print(json.dumps(results))
    if args.keep is None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
