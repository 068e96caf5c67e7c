"""The hand-written Keras baselines: the same model, data, batch size and epochs as the spec.

Usage: python benchmarks/handwritten.py WORKLOAD MODE DATA_PATH EPOCHS BATCH_SIZE

MODE ``numpy``: the plain script most people write, ``model.fit(x, y)`` on NumPy arrays.
MODE ``tfdata``: the best-practice script: a tf.data pipeline (cache, shuffle, batch, prefetch;
for the CSV file, lines shuffled and parsed in parallel batches by ``tf.io.decode_csv``) and
``steps_per_execution=32``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import epoch_timer, write_result  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as kerun does

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

SHUFFLE_LINES = 10_000  # as kerun's streamed CSV shuffle buffer


def build(workload: str) -> keras.Model:
    if workload in ("digits_mlp", "csv_mlp"):
        model = keras.Sequential([keras.Input((64,)), layers.Dense(64, activation="relu"),
                                  layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    elif workload == "wide_mlp":
        model = keras.Sequential([keras.Input((784,)), layers.Dense(512, activation="relu"),
                                  layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax")])
    elif workload == "mnist_convnet":
        model = keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
            layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax"),
        ])
    elif workload == "lstm":
        model = keras.Sequential([keras.Input((100,), dtype="int32"), layers.Embedding(20000, 64),
                                  layers.LSTM(64), layers.Dense(1, activation="sigmoid")])
    else:
        raise SystemExit(f"unknown workload {workload}")
    return model


def load_arrays(workload: str, path: str) -> tuple[np.ndarray, np.ndarray]:
    if workload in ("digits_mlp", "csv_mlp"):
        import pandas as pd

        df = pd.read_csv(path)
        x = (df[[c for c in df.columns if c.startswith("pixel")]].to_numpy(np.float32) * 0.0625)
        return x, df["label"].to_numpy(np.int32)
    with np.load(path) as f:
        return f["x"], f["y"]


def csv_dataset(path: str, batch_size: int) -> tf.data.Dataset:
    with open(path) as f:
        header = f.readline().strip().split(",")
    label = header.index("label")
    pixels = [i for i, c in enumerate(header) if c.startswith("pixel")]

    def parse(lines: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        cols = tf.io.decode_csv(lines, record_defaults=[[0.0]] * len(header))
        x = tf.stack([cols[i] for i in pixels], axis=1) * 0.0625
        return x, tf.cast(cols[label], tf.int32)

    ds = tf.data.TextLineDataset(path).skip(1).shuffle(SHUFFLE_LINES, seed=0)
    return ds.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def main() -> None:
    workload, mode, path, epochs, batch_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    keras.utils.set_random_seed(0)
    model = build(workload)
    loss = "binary_crossentropy" if workload == "lstm" else "sparse_categorical_crossentropy"
    if mode == "tfdata" and workload == "csv_mlp":
        with open(path, "rb") as f:
            n = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b"")) - 1
        train = csv_dataset(path, batch_size)
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"], steps_per_execution=32)
        timer = epoch_timer(n)
        model.fit(train, epochs=epochs, callbacks=[timer], verbose=0)
    elif mode == "tfdata":
        x, y = load_arrays(workload, path)
        n = len(x)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(n, seed=0).batch(batch_size)
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"], steps_per_execution=32)
        timer = epoch_timer(n)
        model.fit(ds.prefetch(tf.data.AUTOTUNE), epochs=epochs, callbacks=[timer], verbose=0)
    elif mode == "numpy":
        x, y = load_arrays(workload, path)
        n = len(x)
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        timer = epoch_timer(n)
        model.fit(x, y, batch_size=batch_size, epochs=epochs, callbacks=[timer], verbose=0)
    else:
        raise SystemExit(f"unknown mode {mode}")
    write_result({**timer.result(), "exit_code": 0})


if __name__ == "__main__":
    main()
