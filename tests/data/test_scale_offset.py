"""Per-column standardisation: ``scale``/``offset`` as one number, a list (one per column) or a
mapping column -> number; a length that does not match is an error at validate (or, for columns a
glob picks, when the data is read), at the line of the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datahelpers import collect, make_spec, mlp3, table_csv  # noqa: F401  (fixture)
from kerun.data import load_datasets
from kerun.errors import DataError, SpecError


def spec(x: str) -> str:
    return f"""
data:
  train: {{type: csv, path: table.csv, label: label}}
  inputs:
    x: {x}
""" + mlp3()


def first_rows(tmp_path: Path, x: str) -> np.ndarray:
    loaded, built = make_spec(tmp_path, spec(x))
    got, _ = collect(load_datasets(loaded, built).train)
    return got[:3]


def test_a_list_gives_each_column_its_own_offset_and_scale(tmp_path: Path, table_csv: Path) -> None:
    got = first_rows(tmp_path, "{columns: [a, b, c], offset: [-1, 0, 0.5], scale: [2, 0.5, 10]}")
    rows = np.array([[i, 2 * i, i / 10] for i in range(3)])
    np.testing.assert_allclose(got, (rows + [-1, 0, 0.5]) * [2, 0.5, 10], rtol=1e-6)


def test_a_mapping_names_columns_and_the_rest_are_left_alone(tmp_path: Path, table_csv: Path) -> None:
    got = first_rows(tmp_path, "{columns: 'a*', offset: {b: -1}, scale: {c: 10}}".replace("'a*'", "[a, b, c]"))
    rows = np.array([[i, 2 * i - 1, i] for i in range(3)])
    np.testing.assert_allclose(got, rows, rtol=1e-6, atol=1e-6)


def test_one_number_still_scales_every_column(tmp_path: Path, table_csv: Path) -> None:
    got = first_rows(tmp_path, "{columns: [a, b, c], scale: 2}")
    np.testing.assert_allclose(got, [[2 * i, 4 * i, i / 5] for i in range(3)], rtol=1e-6)


def test_a_list_of_the_wrong_length_is_refused_at_validate(tmp_path: Path, table_csv: Path) -> None:
    with pytest.raises(SpecError) as err:
        make_spec(tmp_path, spec("{columns: [a, b, c], scale: [1, 2]}"))
    assert "spec.yaml:5:36: data.inputs.x.scale: scale lists 2 numbers for 3 columns" in str(err.value)


def test_a_mapping_naming_another_column_is_refused_at_validate(tmp_path: Path, table_csv: Path) -> None:
    with pytest.raises(SpecError) as err:
        make_spec(tmp_path, spec("{columns: [a, b, c], offset: {d: 1}}"))
    assert "data.inputs.x.offset: offset names 'd', which is not one of the columns ['a', 'b', 'c']" in str(err.value)


def test_columns_picked_by_a_glob_are_counted_when_read(tmp_path: Path, table_csv: Path) -> None:
    loaded, built = make_spec(tmp_path, spec("{columns: '[abc]', scale: [1, 2]}"))
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    text = str(err.value)
    assert "spec.yaml:5:" in text and "scale lists 2 numbers for the 3 columns (a, b, c)" in text
