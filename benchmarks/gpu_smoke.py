"""GPU smoke test: kerun on one NVIDIA GPU, float32 and mixed precision, against hand-written Keras.

Run by hand on a machine with a GPU (never in CI)::

    python benchmarks/gpu_smoke.py                 # every workload of benchmarks/run.py, about 10 min
    python benchmarks/gpu_smoke.py --quick         # smaller data
    python benchmarks/gpu_smoke.py --only mnist_convnet --policies mixed_float16

For each workload and dtype policy it trains, each in a fresh process: kerun from the benchmark's
spec with ``--set model.dtype_policy=POLICY``, and the best-practice hand-written Keras script
(tf.data, prefetch, ``steps_per_execution=32``) built under the same policy with a float32 output
as Keras's mixed-precision guide does. It prints samples per second, the ratio kerun / hand-written
and the GPU memory peak of each run, and checks that the GPU was used: TensorFlow lists it, the
kerun manifest records it, and both runs allocated GPU memory. Exit codes: 0 all checks passed,
1 a check failed, 2 no GPU (nothing was run).
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
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402  (the workloads, their data and the child-process plumbing)

POLICIES = ("float32", "mixed_float16")
WORKLOADS = ("digits_mlp", "wide_mlp", "mnist_convnet", "lstm", "csv_mlp")


def gpu_list() -> list[str]:
    """The GPUs TensorFlow sees, asked in a fresh process (this one never imports TensorFlow)."""
    code = "import json, tensorflow as tf; print('GPUS ' + json.dumps([d.name for d in tf.config.list_physical_devices('GPU')]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=bench.child_env(), timeout=300)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("GPUS ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"TensorFlow did not start:\n{done.stderr[-2000:]}")
    return list(json.loads(line[5:]))


# ---------------------------------------------------------------------------------------------
# child processes: one training each, results written as JSON to KERUN_BENCH_OUT


def _gpu_peak_mb() -> float:
    import tensorflow as tf

    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def child_kerun(workload: str, policy: str, data: str, epochs: int, rows: int, runs: str) -> None:
    from timing import epoch_timer, write_result

    from kerun.run import session
    from kerun.run.train import TrainOptions, train_file

    w = bench.WORKLOADS[workload]
    timer = epoch_timer(rows)
    original = session.TrainingSession.user_callbacks
    session.TrainingSession.user_callbacks = lambda self: [*original(self), timer]  # type: ignore[method-assign]
    overrides = [f"train.epochs={epochs}", f"model.dtype_policy={policy}"]
    if w["make"] is not None:
        overrides.append(f"data.train.path={data}")
    if workload == "csv_mlp":
        overrides.append("data.train.stream=true")
    result = train_file(bench.SPECS / w["spec"], overrides, TrainOptions(runs_dir=Path(runs), progress="quiet"))
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    write_result({**timer.result(), "gpu_peak_mb": _gpu_peak_mb(), "devices": manifest.get("devices"),
                  "jit_compile": manifest.get("jit_compile"), "exit_code": 0})


def child_keras(workload: str, policy: str, data: str, epochs: int, batch: int) -> None:
    import keras
    import tensorflow as tf
    from handwritten import build, csv_dataset, load_arrays
    from timing import epoch_timer, write_result

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(policy)
    inner = build(workload)
    # the guide's float32 output: the last activation in float32, so the loss sees float32
    model = keras.Sequential([inner, keras.layers.Activation("linear", dtype="float32")])
    loss = "binary_crossentropy" if workload == "lstm" else "sparse_categorical_crossentropy"
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"], steps_per_execution=32)
    if workload == "csv_mlp":
        with open(data, "rb") as f:
            n = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b"")) - 1
        train = csv_dataset(data, batch)
    else:
        x, y = load_arrays(workload, data)
        n = len(x)
        train = tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(n, seed=0).batch(batch).prefetch(tf.data.AUTOTUNE)
    timer = epoch_timer(n)
    model.fit(train, epochs=epochs, callbacks=[timer], verbose=0)
    write_result({**timer.result(), "gpu_peak_mb": _gpu_peak_mb(), "exit_code": 0})


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data (benchmarks/run.py --quick sizes)")
    parser.add_argument("--only", nargs="*", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--policies", nargs="*", choices=POLICIES + ("mixed_bfloat16",), default=list(POLICIES))
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "kerun-bench-data")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, workload, policy, data, epochs, extra, *rest = args.child
        if kind == "kerun":
            child_kerun(workload, policy, data, int(epochs), int(extra), rest[0])
        else:
            child_keras(workload, policy, data, int(epochs), int(extra))
        return 0

    gpus = gpu_list()
    if not gpus:
        print("gpu_smoke: no GPU: TensorFlow lists no GPU device on this machine "
              "(tf.config.list_physical_devices('GPU') is empty), so nothing was run.\n"
              "  It needs one NVIDIA GPU with its driver, and TensorFlow with CUDA: pip install 'tensorflow[and-cuda]'.",
              file=sys.stderr)
        return 2
    print(f"GPUs: {', '.join(gpus)}", flush=True)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    rows_out: list[tuple[str, str, float | None, float | None, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="kerun-gpu-smoke-") as tmp:
        work = Path(tmp)
        for workload in args.only:
            w = bench.WORKLOADS[workload]
            epochs = max(2, w["quick_epochs"] if args.quick else w["epochs"])  # the first epoch is not timed
            path, rows = bench.data_file(workload, args.quick, args.data_dir)
            for policy in args.policies:
                me = [sys.executable, str(Path(__file__).resolve()), "--child"]
                label = f"{workload}-{policy}"
                start = time.time()
                k = bench.run_child([*me, "kerun", workload, policy, str(path), str(epochs), str(rows), str(work / "runs")],
                                    work / f"{label}-kerun.log")
                h = bench.run_child([*me, "keras", workload, policy, str(path), str(epochs), str(w["batch"])],
                                    work / f"{label}-keras.log")
                rows_out.append((workload, policy, k.get("samples_per_s"), h.get("samples_per_s"),
                                 k["gpu_peak_mb"], h["gpu_peak_mb"]))
                recorded = (k.get("devices") or {}).get("gpus") or []
                if not recorded:
                    failures.append(f"{label}: the kerun manifest records no GPU")
                if k["gpu_peak_mb"] <= 0 or h["gpu_peak_mb"] <= 0:
                    failures.append(f"{label}: no GPU memory was allocated (kerun {k['gpu_peak_mb']:.0f} MB, "
                                    f"hand-written {h['gpu_peak_mb']:.0f} MB)")
                ratio = (k["samples_per_s"] / h["samples_per_s"]) if k.get("samples_per_s") and h.get("samples_per_s") else None
                print(f"  {workload:14s} {policy:15s} kerun {bench.fmt_rate(k.get('samples_per_s'))}/s  "
                      f"hand-written {bench.fmt_rate(h.get('samples_per_s'))}/s  ratio "
                      f"{'-' if ratio is None else f'{ratio:.2f}x'}  GPU peak {k['gpu_peak_mb']:.0f} MB  "
                      f"jit_compile {k.get('jit_compile')}  ({time.time() - start:.0f} s)", flush=True)
    print("\nworkload        policy           kerun samples/s  hand-written  kerun / hand-written")
    for workload, policy, ks, hs, _, _ in rows_out:
        ratio = f"{ks / hs:.2f}x" if ks and hs else "-"
        print(f"{workload:15s} {policy:16s} {bench.fmt_rate(ks):>15s}  {bench.fmt_rate(hs):>12s}  {ratio:>10s}")
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
