"""``kerun predict``: a finished run's model on new inputs, batch by batch, written to a file.

Inputs map to the model exactly as in training (the run's own ``spec.yaml``); predictions are
written as they come (CSV rows, Parquet row groups) into a temporary file renamed at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kerun.errors import DataError, RunError
from kerun.run.evaluate import load_run
from kerun.run.rundir import atomic_path

__all__ = ["predict_run"]


def predict_run(run_dir: Path, input_path: Path, output: Path | None = None, *, batch_size: int | None = None) -> dict[str, Any]:
    """Predictions for every example of ``input_path``, batch by batch, written to ``output``."""
    from kerun.data import read_inputs

    run, loaded, built = load_run(run_dir)
    batch = batch_size or loaded.spec.train.batch_size
    from kerun.safeio import why_not_regular

    reason = why_not_regular(input_path, folders=True)  # a FIFO would hang the read, a device never end; a folder of images or texts is read
    if reason == "no such file":
        raise DataError(f"no such input file: {input_path}")
    if reason is not None:
        raise DataError(f"the input {str(input_path)[:200]} cannot be read: {reason}")
    inputs = read_inputs(loaded, built, input_path, batch_size=batch)
    output = output or run.file(f"predictions-{input_path.stem}.csv")
    suffix = output.suffix.lower()
    if suffix not in (".csv", ".npy", ".npz", ".parquet"):
        raise RunError(f"cannot write predictions to {output.name}: use .csv, .npy, .npz or .parquet")
    names = built.output_names or ["output"]  # a model that trains itself has no targets, one output
    rows = 0
    # a ragged row deep in a streamed file is a DataError, as in training; no partial output is left
    with atomic_path(output) as tmp, inputs.errors.mapped():
        writer = _Writer(tmp, suffix, names)
        try:
            for x in inputs.dataset:
                pred = built.model.predict_on_batch(x)
                if not isinstance(pred, dict):
                    pred = {names[0]: pred} if not isinstance(pred, (list, tuple)) else dict(zip(names, pred))
                arrays = {k: np.asarray(v) for k, v in pred.items()}
                writer.write(arrays)
                rows += len(next(iter(arrays.values())))
        finally:
            writer.close()
    return {"output": str(output), "rows": rows, "outputs": names}


class _Writer:
    """Writes prediction batches as they come: CSV rows, Parquet row groups, or .npy/.npz at the end."""

    def __init__(self, path: Path, suffix: str, names: list[str]) -> None:
        self.path, self.suffix, self.names = path, suffix, names
        self.chunks: dict[str, list[np.ndarray]] = {n: [] for n in names}
        self._csv: Any = None
        self._parquet: Any = None
        self._header = False

    def _columns(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cols: dict[str, np.ndarray] = {}
        for name, arr in arrays.items():
            flat = arr.reshape(len(arr), -1)
            if flat.shape[1] == 1:
                cols[name] = flat[:, 0]
            else:
                for i in range(flat.shape[1]):
                    cols[f"{name}_{i}"] = flat[:, i]
                cols[f"{name}_class"] = flat.argmax(axis=1)
        return cols

    def write(self, arrays: dict[str, np.ndarray]) -> None:
        if self.suffix in (".npy", ".npz"):
            for k, v in arrays.items():
                self.chunks.setdefault(k, []).append(v)
            return
        cols = self._columns(arrays)
        if self.suffix == ".csv":
            import csv

            if self._csv is None:
                self._fh = open(self.path, "w", newline="", encoding="utf-8")
                self._csv = csv.writer(self._fh)
                self._csv.writerow(list(cols))
            self._csv.writerows(zip(*[c.tolist() for c in cols.values()]))
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table(cols)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table)

    def close(self) -> None:
        if self._csv is not None:
            self._fh.close()
        if self._parquet is not None:
            self._parquet.close()
        if self.suffix == ".npy":
            if len(self.chunks) > 1:
                raise RunError("a model with several outputs writes .npz, .csv or .parquet, not .npy")
            np.save(self.path, np.concatenate(next(iter(self.chunks.values()))))
        elif self.suffix == ".npz":
            with open(self.path, "wb") as fh:
                np.savez(fh, **{k: np.concatenate(v) for k, v in self.chunks.items() if v})

