"""Fork from a warm parent, or reuse a worker? The measurement behind kerun's warm workers.

    python benchmarks/fork_vs_reuse.py [--jobs 3]

One fresh process imports TensorFlow and Keras, then runs the same tiny job (build a 2-layer MLP,
fit 5 steps, evaluate) ``--jobs`` times, first each in a child forked from it (the parent never
runs a TensorFlow op, or its forks would deadlock: TensorFlow's thread pools do not survive
``fork``), then each in the process itself after ``keras.backend.clear_session()``. Printed: the
seconds of every job and the medians. Measured here (2 shared cores, TensorFlow 2.21): forked
1.31-1.45 s, reused 0.86-0.94 s; TensorFlow's runtime is initialised again in every fork.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def job() -> None:
    import keras
    import numpy as np

    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.rand(64, 4).astype("float32")
    y = np.random.randint(0, 2, 64)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, steps_per_epoch=5)
    model.evaluate(x, y, verbose=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    print(f"import tensorflow, keras: {time.perf_counter() - t0:.2f} s", flush=True)
    forked = []
    for _ in range(args.jobs):
        t = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                job()
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status:
            sys.exit(f"a forked job failed (status {status})")
        forked.append(time.perf_counter() - t)
    reused = []
    for _ in range(args.jobs):
        t = time.perf_counter()
        job()
        reused.append(time.perf_counter() - t)
    print("forked:", ", ".join(f"{s:.2f}" for s in forked), f"s (median {statistics.median(forked):.2f})")
    print("reused:", ", ".join(f"{s:.2f}" for s in reused), f"s (median {statistics.median(reused):.2f})")
    print(f"forked / reused: {statistics.median(forked) / statistics.median(reused):.2f}x")


if __name__ == "__main__":
    main()
