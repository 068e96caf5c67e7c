"""``data.windows``: time-series windows as keras.utils.timeseries_dataset_from_array makes them,
split by time (no window or target crosses a split boundary), only the training windows shuffled."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from datahelpers import collect, make_spec, write_csv
from kerun.data import load_datasets
from kerun.errors import DataError, SpecError

ROWS = 200


@pytest.fixture
def series_csv(tmp_path: Path) -> Path:
    """Row i: t=i, a=i*10, b=-i (every value names its row)."""
    return write_csv(tmp_path / "series.csv", ["t", "a", "b"], [[i, 10 * i, -i] for i in range(ROWS)])


def spec_text(windows: str, *, held: str = "validation: {split: 0.2}\n  test: {split: 0.1}", shuffle: str = "false",
              inputs: str = "", width: int = 3, length: int = 8) -> str:
    return f"""
data:
  train: {{type: csv, path: series.csv}}
  {held}
  windows: {windows}
  {inputs}
model:
  inputs: {{x: [{length}, {width}]}}
  layers:
    - {{type: Flatten}}
    - {{type: Dense, units: 1}}
train: {{batch_size: 16, shuffle: {shuffle}}}
"""


def keras_windows(values: np.ndarray, targets: np.ndarray, *, length: int, stride: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    ds = keras.utils.timeseries_dataset_from_array(values, targets, sequence_length=length, sequence_stride=stride,
                                                   sampling_rate=rate, batch_size=1000, shuffle=False)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize("length,stride,rate,offset", [(8, 1, 1, 1), (8, 3, 2, 5), (6, 2, 3, 0)])
def test_windows_are_keras_windows_within_each_time_span(tmp_path: Path, series_csv: Path, length: int, stride: int,
                                                         rate: int, offset: int) -> None:
    windows = (f"{{sequence_length: {length}, sequence_stride: {stride}, sampling_rate: {rate}, target: a, "
               f"target_offset: {offset}}}")
    loaded, built = make_spec(tmp_path, spec_text(windows, length=length))
    data = load_datasets(loaded, built)
    table = np.array([[i, 10 * i, -i] for i in range(ROWS)], dtype=np.float32)
    # the first 70% of rows train, the next 20% validate, the last 10% test: by time, never shuffled
    spans = {"train": (0, 140), "validation": (140, 180), "test": (180, 200)}
    shift = (length - 1) * rate + offset
    for split, (lo, hi) in spans.items():
        x, y = collect(getattr(data, split))
        span = table[lo:hi]
        want_x, want_y = keras_windows(span, span[shift:, 1], length=length, stride=stride, rate=rate)
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(y.reshape(-1), want_y)
        assert x[:, :, 0].min() >= lo and x[:, :, 0].max() < hi and (y.reshape(-1) / 10).max() < hi  # inside its span
        assert data.sizes[split] == len(want_x)


def test_only_the_training_windows_are_shuffled(tmp_path: Path, series_csv: Path) -> None:
    loaded, built = make_spec(tmp_path, spec_text("{sequence_length: 8, target: a}", shuffle="true"))
    data = load_datasets(loaded, built)
    x, y = collect(data.train)
    starts = x[:, 0, 0]
    assert sorted(starts) == list(range(0, 140 - 8)) and list(starts) != sorted(starts)  # all train windows, shuffled
    np.testing.assert_array_equal(y.reshape(-1), (starts + 8) * 10)  # each keeps its own target
    vx, _ = collect(data.validation)
    assert list(vx[:, 0, 0]) == list(range(140, 180 - 8))  # in time order, from its own span


def test_per_column_standardisation_applies_along_the_window_steps(tmp_path: Path, series_csv: Path) -> None:
    inputs = "inputs: {x: {field: window, offset: {a: -100}, scale: [1, 0.1, -1]}}"
    loaded, built = make_spec(tmp_path, spec_text("{sequence_length: 8, columns: [t, a, b], target: t}", inputs=inputs))
    x, y = collect(load_datasets(loaded, built).train)
    np.testing.assert_allclose(x[0], [[i, i - 10, i] for i in range(8)], atol=1e-5)
    np.testing.assert_array_equal(y.reshape(-1)[:3], [8, 9, 10])


def test_a_window_longer_than_a_split_is_a_located_error(tmp_path: Path, series_csv: Path) -> None:
    loaded, built = make_spec(tmp_path, spec_text("{sequence_length: 8, sampling_rate: 3, target: a}", length=8))
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    text = str(err.value)
    assert "the test split holds rows 181-200 (20 rows), too few for one window" in text and "spec.yaml:6:" in text
    assert "shorter window" in text


def test_a_misspelt_column_is_refused_at_validate_with_a_suggestion(tmp_path: Path, series_csv: Path) -> None:
    with pytest.raises(SpecError) as err:
        make_spec(tmp_path, spec_text("{sequence_length: 8, columns: [t, b], target: aa}"))
    assert "spec.yaml:6:58: data.windows.target: no column 'aa' in series.csv" in str(err.value)
    assert "did you mean 'a'?" in str(err.value)


def test_windows_of_npz_arrays_name_their_columns(tmp_path: Path) -> None:
    series = np.arange(60, dtype=np.float32).reshape(30, 2)
    np.savez(tmp_path / "series.npz", s=series, y=series[:, 0] * 2)
    text = spec_text("{sequence_length: 8, columns: [s], target: y}", held="", width=2,
                     inputs="inputs: {x: {field: window, scale: {'s[1]': 0.5}}}").replace("type: csv, path: series.csv", "type: npz, path: series.npz")
    loaded, built = make_spec(tmp_path, text)
    x, y = collect(load_datasets(loaded, built).train)
    want_x, want_y = keras_windows(series * [1, 0.5], series[8:, 0] * 2, length=8, stride=1, rate=1)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y.reshape(-1), want_y)


def test_held_out_sources_are_windowed_whole(tmp_path: Path, series_csv: Path) -> None:
    write_csv(tmp_path / "later.csv", ["t", "a", "b"], [[i, 10 * i, -i] for i in range(500, 530)])
    loaded, built = make_spec(tmp_path, spec_text("{sequence_length: 8, target: a}", held="validation: {type: csv, path: later.csv}"))
    data = load_datasets(loaded, built)
    vx, vy = collect(data.validation)
    assert list(vx[:, 0, 0]) == list(range(500, 522)) and vy.reshape(-1)[0] == 5080
    assert data.sizes["train"] == ROWS - 8


def test_validate_refuses_a_window_of_a_streamed_source_and_a_scale_of_the_wrong_length(tmp_path: Path,
                                                                                        series_csv: Path) -> None:
    text = spec_text("{sequence_length: 8, columns: [t, a], target: a}", width=2,
                     inputs="inputs: {x: {field: window, scale: [1, 2, 3]}}").replace("path: series.csv}", "path: series.csv, stream: true}")
    with pytest.raises(SpecError) as err:
        make_spec(tmp_path, text)
    text = str(err.value)
    assert "stream" in text and "scale lists 3 numbers for the 2 columns of data.windows" in text


def test_predict_cuts_a_table_into_windows_to_its_last_row(tmp_path: Path, series_csv: Path) -> None:
    from kerun.data.inputs import read_inputs

    write_csv(tmp_path / "recent.csv", ["t", "a", "b"], [[i, 10 * i, -i] for i in range(300, 320)])
    loaded, built = make_spec(tmp_path, spec_text("{sequence_length: 8, sampling_rate: 2, target: a}"))
    got = read_inputs(loaded, built, tmp_path / "recent.csv", batch_size=4)
    x = np.concatenate(list(got.dataset.as_numpy_iterator()))
    assert got.size == 20 - 14 == len(x)  # no target: the last window ends at the last row
    np.testing.assert_array_equal(x[-1, :, 0], np.arange(305, 320, 2))
