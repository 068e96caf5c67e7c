"""A CSV read whole parses straight to the types the model takes (issue 18): float columns arrive as
float32 (not float64 first), integers and text as before, the values those of a float64 parse."""

from __future__ import annotations

import numpy as np
import pyarrow.csv as pacsv

from kerun.data._common import SourceContext
from kerun.data.csv import read_csv
from kerun.spec import load_spec

SPEC = """\
data:
  train: {type: csv, path: t.csv, label: label}
model:
  inputs: {x: [3]}
  layers:
    - {type: Dense, units: 2}
compile: {loss: sparse_categorical_crossentropy}
"""


def _read(tmp_path, text: str) -> dict[str, np.ndarray]:
    (tmp_path / "t.csv").write_text(text)
    (tmp_path / "s.yaml").write_text(SPEC)
    loaded = load_spec(tmp_path / "s.yaml")
    return dict(read_csv(SourceContext(loaded, ("data", "train"), loaded.spec.data.train)).fields)


def test_float_columns_are_parsed_to_float32_and_the_rest_as_before(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rows = [f"{a:.6f},{b:.3e},{i % 3},w{i % 5},{'' if i % 7 == 0 else i}" for i, (a, b) in enumerate(rng.normal(size=(30_000, 2)))]
    text = "a,b,label,word,gappy\n" + "\n".join(rows) + "\n"  # 30,000 rows: several parse blocks
    got = _read(tmp_path, text)
    assert got["a"].dtype == np.float32 and got["b"].dtype == np.float32
    assert got["label"].dtype == np.int64 and got["word"].dtype == object
    assert got["gappy"].dtype == np.float64 and np.isnan(got["gappy"][0])  # an int column with gaps: NaN, as before
    whole = pacsv.read_csv(tmp_path / "t.csv")  # pyarrow's own float64 parse of the whole file
    for name in ("a", "b"):
        np.testing.assert_array_equal(got[name], whole.column(name).to_numpy().astype(np.float32))
    np.testing.assert_array_equal(got["label"], whole.column("label").to_numpy())
    assert list(got["word"][:6]) == ["w0", "w1", "w2", "w3", "w4", "w0"]
    assert all(a.flags.writeable for a in got.values())


def test_a_file_with_a_header_only_reads_as_empty_columns(tmp_path) -> None:
    got = _read(tmp_path, "a,b,c,label\n")
    assert set(got) == {"a", "b", "c", "label"} and all(len(v) == 0 for v in got.values())
