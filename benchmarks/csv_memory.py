"""Peak memory of one training epoch on a generated CSV of about 200 MB and of about 2 GB, and of
reading a CSV whole.

The promises (README, Data and Performance): a CSV larger than memory streams, so the 2 GB file may
cost at most 10% more peak memory than the 200 MB one; and a CSV read whole peaks at most at 3x
the file's size (a 200 MB file under 600 MB). Run by hand, not in the test suite:

    python benchmarks/csv_memory.py [--small-mb 200] [--large-mb 2000] [--keep DIR]
    python benchmarks/csv_memory.py --read [--small-mb 200] [--keep DIR]

Each training measurement is a fresh `kerun train` process; its peak resident memory (ru_maxrss)
is read by a small parent process, so nothing else is counted. ``--read`` measures the read alone:
a fresh process imports TensorFlow and builds the model, then its peak resident memory is reset
(Linux's ``/proc/self/clear_refs``) and the spec's datasets are loaded (parse, arrays, tensors);
the figure is that peak less the memory before the read, and the time the read took.
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


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def read_child(spec: Path) -> None:
    """In a fresh process: the peak memory of loading the spec's datasets, over what came before."""
    from kerun.tfenv import quiet_tensorflow

    quiet_tensorflow()
    from kerun.data import load_datasets
    from kerun.model.model import build_model
    from kerun.spec import load_spec

    loaded = load_spec(spec)
    built = build_model(loaded)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident size
    before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    datasets = load_datasets(loaded, built)
    seconds = time.perf_counter() - t0
    peak, after = _status_mb("VmHWM"), _status_mb("VmRSS")
    assert datasets.train is not None
    print(json.dumps({"before_mb": before, "peak_mb": peak, "read_peak_mb": peak - before, "held_mb": after - before,
                      "seconds": seconds}))


def read_whole(args: argparse.Namespace, folder: Path) -> None:
    csv_path = folder / "small.csv"
    if not csv_path.exists():
        write_csv(csv_path, args.small_mb)
    size = csv_path.stat().st_size / 1024 / 1024
    spec = folder / "read.yaml"
    spec.write_text(SPEC.format(path=csv_path, columns=COLUMNS, stream=", stream: false"))
    out = subprocess.run([sys.executable, __file__, "--child", str(spec)], capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"read whole: {size:,.0f} MB file -> peak {r['read_peak_mb']:,.0f} MB over the {r['before_mb']:,.0f} MB before "
          f"({r['read_peak_mb'] / size:.2f}x the file; promise: at most 3x), {r['held_mb']:,.0f} MB held after, "
          f"{r['seconds']:.1f} s")
    print(json.dumps({"file_mb": round(size, 1), **{k: round(v, 1) for k, v in r.items()}}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        read_child(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--small-mb", type=int, default=200)
    parser.add_argument("--large-mb", type=int, default=2000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated files here")
    parser.add_argument("--stream", action="store_true",
                        help="stream both files (by default only files over 256 MiB stream, so the small one is read whole)")
    parser.add_argument("--read", action="store_true", help="measure reading the small file whole (parse, arrays, tensors) alone")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="kerun-csv-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    if args.read:
        read_whole(args, folder)
        if args.keep is None:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        return
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
