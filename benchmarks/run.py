"""kerun against hand-written Keras: training throughput, time to the first step, peak memory, and
the start-up of the command line. Run by hand, never in the test suite::

    python benchmarks/run.py                  # everything, about 25 minutes on two cores
    python benchmarks/run.py --quick          # smaller data, one repeat: a few minutes
    python benchmarks/run.py --only lstm --repeats 5
    python benchmarks/run.py --only startup

Every run is a fresh subprocess (imports and memory counted fairly); the variants of a workload
alternate, in a rotated order each round, so load from other processes falls on all of them.
Data is generated with NumPy into a temporary folder (``--data-dir``; reused when present).
A full run (no ``--only``, no ``--quick``) writes ``benchmarks/results-full.json`` and
``benchmarks/results-full.png``; others write them only when ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPECS = HERE / "specs"
PY = sys.executable
DIGITS_CSV = ROOT / "specs" / "data" / "digits.csv"

# ---------------------------------------------------------------------------------------------
# data, generated once per size (the files are NumPy or CSV; nothing here imports TensorFlow)


def _classes_from(x: np.ndarray, rng: np.random.Generator, k: int) -> np.ndarray:
    """Labels a model can learn: the argmax of a fixed random projection."""
    w = rng.standard_normal((x.reshape(len(x), -1).shape[1], k)).astype(np.float32)
    return (x.reshape(len(x), -1) @ w).argmax(axis=1).astype(np.int32)


def make_wide(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 784), dtype=np.float32)
    np.savez(path, x=x, y=_classes_from(x, rng, 10))


def make_images(path: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    np.savez(path, x=x, y=_classes_from(x, rng, 10))


def make_tokens(path: Path, n: int) -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(1, 20000, (n, 100), dtype=np.int32)
    y = (np.sin(x[:, :10].astype(np.float64)).sum(axis=1) > 0).astype(np.int32)
    np.savez(path, x=x, y=y)


def make_big_csv(path: Path, megabytes: int) -> None:
    """The digits rows repeated until the file holds about ``megabytes`` MB of text."""
    header, body = DIGITS_CSV.read_bytes().split(b"\n", 1)
    if not body.endswith(b"\n"):
        body += b"\n"
    repeats = math.ceil(megabytes * 1e6 / len(body))
    with open(path, "wb") as f:
        f.write(header + b"\n")
        for _ in range(repeats):
            f.write(body)


def csv_rows(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b"")) - 1


# ---------------------------------------------------------------------------------------------
# workloads

# the variants of a workload, in the order of the first round
KERUN, TFDATA, NUMPY = "kerun", "hand-written tf.data", "hand-written fit(NumPy)"
IMPORT_TF = "import tensorflow, keras only"

WORKLOADS: dict[str, dict[str, Any]] = {
    "digits_mlp": dict(
        title="MLP 64-64-10, real digits (1,797 rows), batch 32",
        spec="digits_mlp.yaml", batch=32, epochs=20, quick_epochs=10,
        size=None, quick_size=None, make=None, file=None,
        # the floor for "process start to first step", measured in the same rounds
        extra={IMPORT_TF: None},
    ),
    "wide_mlp": dict(
        title="MLP 784-512-512-10, 200k synthetic rows, batch 256",
        spec="wide_mlp.yaml", batch=256, epochs=2, quick_epochs=2,
        size=200_000, quick_size=40_000, make=make_wide, file="wide-{size}.npz",
    ),
    "mnist_convnet": dict(
        title='Keras "simple MNIST convnet", 60k synthetic 28x28 images, batch 128',
        spec="mnist_convnet.yaml", batch=128, epochs=2, quick_epochs=2,
        size=60_000, quick_size=10_000, make=make_images, file="images-{size}.npz",
    ),
    "lstm": dict(
        title="Embedding 64 + LSTM 64, 10k synthetic sequences of 100 tokens, batch 64",
        spec="lstm.yaml", batch=64, epochs=3, quick_epochs=2,
        size=10_000, quick_size=2_000, make=make_tokens, file="tokens-{size}.npz",
        # measured to choose AUTO_STEPS_PER_EXECUTION: recurrent models are where it matters least
        extra={"kerun spe=1": ["--set", "compile.steps_per_execution=1"]},
    ),
    "csv_mlp": dict(
        title="MLP 64-64-10, 280 MB CSV (digits rows repeated, streamed), batch 256",
        spec="csv_mlp.yaml", batch=256, epochs=2, quick_epochs=2,
        size=280, quick_size=40, make=make_big_csv, file="digits-{size}MB.csv",
        # measured to choose the streamed shuffle: within each parsed block (the default) or an
        # example-level buffer of 10,000 as before
        extra={"kerun buffer=10k": ["--set", "data.shuffle_buffer=10000"]},
    ),
}



def data_file(name: str, quick: bool, data_dir: Path) -> tuple[Path, int]:
    w = WORKLOADS[name]
    if w["make"] is None:
        return DIGITS_CSV, 1797
    size = w["quick_size"] if quick else w["size"]
    path = data_dir / w["file"].format(size=size)
    if not path.exists():
        print(f"  generating {path} ...", flush=True)
        tmp = path.with_name(path.name + ".part" + path.suffix)
        w["make"](tmp, size)
        tmp.rename(path)
    rows = csv_rows(path) if path.suffix == ".csv" else int(size)
    return path, rows


# ---------------------------------------------------------------------------------------------
# child processes


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_child(cmd: list[str], log: Path, timeout: float = 900) -> dict[str, Any]:
    """Run one child; it writes its JSON result to a file we name (stdout stays free)."""
    out = log.with_suffix(".json")
    env = child_env()
    env["KERUN_BENCH_OUT"] = str(out)
    env["KERUN_BENCH_T0"] = repr(time.time())
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0 or not out.exists():
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{tail}")
    return json.loads(out.read_text())


def variants(name: str, path: Path, rows: int, epochs: int, runs_dir: Path) -> dict[str, list[str]]:
    w = WORKLOADS[name]
    kerun_args = [str(SPECS / w["spec"]), "--quiet", "--runs-dir", str(runs_dir), "--set", f"train.epochs={epochs}"]
    if w["make"] is not None:
        kerun_args += ["--set", f"data.train.path={path}"]
    if name == "csv_mlp" and path.stat().st_size < 256 * 1024 * 1024:
        kerun_args += ["--set", "data.train.stream=true"]  # --quick: a smaller file, streamed all the same
    kerun = [PY, str(HERE / "kerun_child.py"), str(rows), "--", "train", *kerun_args]
    hand = [PY, str(HERE / "handwritten.py"), name]
    tail = [str(path), str(epochs), str(w["batch"])]
    out = {KERUN: kerun, TFDATA: [*hand, "tfdata", *tail], NUMPY: [*hand, "numpy", *tail]}
    for label, extra in w.get("extra", {}).items():
        out[label] = [PY, str(HERE / "import_tf.py")] if label == IMPORT_TF else [*kerun, *extra]
    return out


def rotated(items: list[str], k: int) -> list[str]:
    k %= len(items)
    return items[k:] + items[:k]


def bench_workload(name: str, args: argparse.Namespace, data_dir: Path, work: Path) -> dict[str, Any]:
    w = WORKLOADS[name]
    epochs = w["quick_epochs"] if args.quick else w["epochs"]
    path, rows = data_file(name, args.quick, data_dir)
    cmds = variants(name, path, rows, epochs, work / "runs")
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in cmds}
    for r in range(args.repeats):
        for label in rotated(list(cmds), r):
            log = work / f"{name}-{label.replace(' ', '_').replace('(', '').replace(')', '')}-{r}.log"
            res = run_child(cmds[label], log)
            runs[label].append(res)
            print(f"  {name:14s} round {r + 1}  {label:24s} {fmt_rate(res.get('samples_per_s'))} samples/s  "
                  f"first step {res.get('first_step_s') or 0:.2f}s  peak {res['peak_rss_mb']:.0f} MB", flush=True)
    return {"title": w["title"], "rows": rows, "epochs": epochs, "batch_size": w["batch"],
            "data": str(path), "runs": runs, "summary": summarize_workload(runs)}


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize_workload(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, rs in runs.items():
        out[label] = {key: stats([r[key] for r in rs]) for key in ("samples_per_s", "first_step_s", "peak_rss_mb")
                      if all(r.get(key) is not None for r in rs)}
    k = [r["samples_per_s"] for r in runs[KERUN]]
    for base in (TFDATA, NUMPY, *[v for v in runs if v.startswith("kerun ")]):
        b = [r["samples_per_s"] for r in runs[base]]
        paired = [x / y for x, y in zip(k, b)]  # same round: the same background load
        out[f"ratio vs {base}"] = {"of_medians": statistics.median(k) / statistics.median(b), **stats(paired)}
    return out


# ---------------------------------------------------------------------------------------------
# start-up


def kerun_command() -> list[str]:
    """The console script next to this Python (not a pyenv shim, whose own start-up is not kerun's)."""
    script = Path(PY).parent / "kerun"
    return [str(script)] if script.exists() else [PY, "-m", "kerun"]


def bench_startup(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    spec = str(SPECS / "digits_mlp.yaml")
    cmds = {
        "python -c pass": [PY, "-c", "pass"],
        "python -c 'import tensorflow'": [PY, "-c", "import tensorflow"],
        "kerun --help": [*kerun_command(), "--help"],
        "kerun validate (one spec)": [*kerun_command(), "validate", spec],
        "kerun schema": [*kerun_command(), "schema"],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    n = args.startup_repeats
    for r in range(n):
        for label in rotated(list(cmds), r):
            t = time.perf_counter()
            proc = subprocess.run(cmds[label], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env(), cwd=ROOT)
            dt = time.perf_counter() - t
            if proc.returncode != 0:
                raise RuntimeError(f"{cmds[label]} failed: {proc.stderr.decode()[-2000:]}")
            times[label].append(dt)
    out = {label: {**stats(v), "runs": v} for label, v in times.items()}
    for label, s in out.items():
        print(f"  {label:32s} median {s['median']:.3f}s  (min {s['min']:.3f}, max {s['max']:.3f}, n={s['n']})", flush=True)
    return out


# ---------------------------------------------------------------------------------------------
# reporting


def fmt_rate(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.1f}k" if v < 1e6 else f"{v / 1e6:.2f}M"


def fmt_ratio(r: dict[str, float]) -> str:
    return f"{r['of_medians']:.2f}x ({r['min']:.2f}-{r['max']:.2f})"


def table(results: dict[str, Any]) -> str:
    lines = [
        "| workload | kerun samples/s | hand-written tf.data | kerun ÷ tf.data | fit(NumPy) | kerun ÷ fit(NumPy) | first step: kerun / tf.data / NumPy | peak RSS MB: kerun / tf.data / NumPy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, w in results.get("workloads", {}).items():
        s = w["summary"]

        def rate(v: str) -> str:
            x = s[v]["samples_per_s"]
            return f"{fmt_rate(x['median'])} ({fmt_rate(x['min'])}-{fmt_rate(x['max'])})"

        first = " / ".join(f"{s[v]['first_step_s']['median']:.1f}s" for v in (KERUN, TFDATA, NUMPY))
        mem = " / ".join(f"{s[v]['peak_rss_mb']['median']:.0f}" for v in (KERUN, TFDATA, NUMPY))
        lines.append(f"| {name} | {rate(KERUN)} | {rate(TFDATA)} | {fmt_ratio(s['ratio vs ' + TFDATA])} | {rate(NUMPY)} | "
                     f"{fmt_ratio(s['ratio vs ' + NUMPY])} | {first} | {mem} |")
        for v in s:
            if v.startswith("kerun "):
                lines.append(f"| {name}, {v} | {rate(v)} | | kerun default ÷ this: {fmt_ratio(s['ratio vs ' + v])} | | | "
                             f"{s[v]['first_step_s']['median']:.1f}s | {s[v]['peak_rss_mb']['median']:.0f} |")
    st = results.get("startup")
    if st:
        lines += ["", "| command (fresh process) | median | min-max |", "|---|---|---|"]
        for label, s in st.items():
            lines.append(f"| `{label}` | {s['median']:.2f}s | {s['min']:.2f}-{s['max']:.2f}s |")
    wl = results.get("workloads", {})
    if "digits_mlp" in wl and IMPORT_TF in wl["digits_mlp"]["summary"]:
        s = wl["digits_mlp"]["summary"]
        floor = s[IMPORT_TF]["first_step_s"]
        lines += ["", "| digits_mlp, same rounds | process start to first training step (median, min-max) | over the import alone (median) |",
                  "|---|---|---|", f"| {IMPORT_TF} | {floor['median']:.2f}s ({floor['min']:.2f}-{floor['max']:.2f}) | |"]
        for v in (KERUN, TFDATA, NUMPY):
            f = s[v]["first_step_s"]
            lines.append(f"| {v} | {f['median']:.2f}s ({f['min']:.2f}-{f['max']:.2f}) | {f['median'] - floor['median']:+.2f}s |")
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wl = results.get("workloads", {})
    st = results.get("startup", {})
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    names = list(wl)
    xs = np.arange(len(names))
    for i, (base, color) in enumerate(((TFDATA, "#4c72b0"), (NUMPY, "#dd8452"))):
        r = [wl[n]["summary"]["ratio vs " + base] for n in names]
        med = [x["of_medians"] for x in r]
        err = [[m - x["min"] for m, x in zip(med, r)], [x["max"] - m for m, x in zip(med, r)]]
        err = np.clip(np.array(err), 0, None)
        ax.bar(xs + (i - 0.5) * 0.38, med, 0.38, yerr=err, capsize=3, color=color, label=f"kerun ÷ {base}")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.axhline(1.2, color="gray", lw=0.8, ls="--")
    ax.set_xticks(xs, names, rotation=15)
    ax.set_ylabel("training throughput ratio (median; bars: min-max of paired runs)")
    ax.set_title("kerun's training throughput relative to hand-written Keras")
    ax.legend(fontsize=8)
    ax = axes[1]
    if st:
        labels = list(st)
        med = [st[k]["median"] for k in labels]
        if "digits_mlp" in wl:
            s = wl["digits_mlp"]["summary"]
            if IMPORT_TF in s:
                labels.append("import tensorflow, keras (digits rounds)")
                med.append(s[IMPORT_TF]["first_step_s"]["median"])
            labels.append("kerun train digits: to first step")
            med.append(s[KERUN]["first_step_s"]["median"])
        ax.barh(range(len(labels)), med, color="#55a868")
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("seconds, median of fresh processes")
        ax.set_title("start-up")
    fig.suptitle(f"kerun benchmarks, {results['date']}, {results['machine']['cpus']} CPUs ({results['machine']['processor']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = subprocess.run([PY, "-c", "import tensorflow as tf, keras; print(tf.__version__, keras.__version__)"],
                              capture_output=True, text=True, env=child_env()).stdout.split()
    return {"cpus": os.cpu_count(), "processor": cpu, "python": platform.python_version(),
            "tensorflow": versions[0] if versions else None, "keras": versions[1] if len(versions) > 1 else None,
            "platform": platform.platform()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller data, fewer epochs, one repeat")
    p.add_argument("--only", action="append", metavar="NAME", help=f"one of {', '.join([*WORKLOADS, 'startup'])}; repeatable")
    p.add_argument("--repeats", type=int, help="runs of each variant (default 3, or 1 with --quick)")
    p.add_argument("--startup-repeats", type=int, help="runs of each start-up command (default 5, or 3 with --quick)")
    p.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "kerun-bench-data")
    p.add_argument("--out", type=Path, help="write results JSON here (and a PNG chart beside it)")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.startup_repeats = args.startup_repeats or (3 if args.quick else 5)
    selected = args.only or [*WORKLOADS, "startup"]
    unknown = [s for s in selected if s not in WORKLOADS and s != "startup"]
    if unknown:
        p.error(f"unknown workload {', '.join(unknown)}; choose from {', '.join([*WORKLOADS, 'startup'])}")
    out = args.out or (HERE / "results-full.json" if not args.quick and not args.only else None)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kerun-bench-"))
    started = time.time()
    results: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "workloads": {},
    }
    # Byte-code as an installed package has it (pip compiles on install; an editable install writes
    # it on first import unless PYTHONDONTWRITEBYTECODE is set, as on some CI images): otherwise
    # every fresh process would compile kerun's modules again and time that.
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "kerun")], check=True, stdout=subprocess.DEVNULL)
    try:
        if "startup" in selected:
            print("start-up", flush=True)
            results["startup"] = bench_startup(args, work)
        for name in WORKLOADS:
            if name in selected:
                print(name, flush=True)
                results["workloads"][name] = bench_workload(name, args, args.data_dir, work)
    finally:
        shutil.rmtree(work / "runs", ignore_errors=True)
    results["harness_seconds"] = round(time.time() - started, 1)
    if out is not None:
        out.write_text(json.dumps(results, indent=1) + "\n")
    print()
    print(table(results))
    print(f"\n{results['harness_seconds']:.0f}s; logs in {work}")
    if out is not None:
        chart(results, out.with_suffix(".png"))
        print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
