"""A sweep's HParams dashboard (kerun.orchestrate.hparams), read back with TensorBoard's own reader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kerun.orchestrate.hparams import FOLDER, write_hparams

TRIALS = [
    {"number": 0, "state": "completed", "value": 0.25, "epochs": 3, "values": {"lr": 0.01, "units": 8, "act": "relu", "bn": True}},
    {"number": 1, "state": "pruned", "value": 0.9, "epochs": 1, "values": {"lr": 0.1, "units": 16, "act": "tanh", "bn": False}},
    {"number": 2, "state": "failed", "value": None, "epochs": 0, "values": {"lr": 1.0, "units": 32, "act": "relu", "bn": True}},
]
KEYS = ["lr", "units", "act", "bn"]


def _read(logdir: Path) -> tuple:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    top = EventAccumulator(str(logdir))
    top.Reload()
    experiment = metadata.parse_experiment_plugin_data(top.SummaryMetadata(metadata.EXPERIMENT_TAG).plugin_data.content)
    sessions = {}
    for sub in sorted(p for p in logdir.iterdir() if p.is_dir()):
        acc = EventAccumulator(str(sub))
        acc.Reload()
        start = metadata.parse_session_start_info_plugin_data(acc.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content)
        end = metadata.parse_session_end_info_plugin_data(acc.SummaryMetadata(metadata.SESSION_END_INFO_TAG).plugin_data.content)
        scalars = [(s.step, s.value) for s in acc.Scalars("val_loss")] if "val_loss" in acc.Tags()["scalars"] else []
        sessions[sub.name] = (start, end, scalars)
    return experiment, sessions


def test_each_trial_its_values_objective_and_outcome(tmp_path: Path) -> None:
    from tensorboard.plugins.hparams import api_pb2

    logdir = write_hparams(tmp_path, TRIALS, KEYS, "val_loss")
    assert logdir == tmp_path / FOLDER
    experiment, sessions = _read(logdir)
    types = {h.name: h.type for h in experiment.hparam_infos}
    assert types == {"lr": api_pb2.DATA_TYPE_FLOAT64, "units": api_pb2.DATA_TYPE_FLOAT64,
                     "act": api_pb2.DATA_TYPE_STRING, "bn": api_pb2.DATA_TYPE_BOOL}
    assert [m.name.tag for m in experiment.metric_infos] == ["val_loss"]
    assert sorted(sessions) == ["trial-0000", "trial-0001", "trial-0002"]
    start, end, scalars = sessions["trial-0001"]
    assert start.hparams["lr"].number_value == pytest.approx(0.1) and start.hparams["act"].string_value == "tanh"
    assert start.hparams["bn"].bool_value is False and start.hparams["units"].number_value == 16
    assert scalars == [(1, pytest.approx(0.9))]  # a pruned trial: its value when it was stopped, at that epoch
    assert end.status == api_pb2.STATUS_SUCCESS
    assert sessions["trial-0000"][2] == [(3, pytest.approx(0.25))]
    assert sessions["trial-0002"][2] == [] and sessions["trial-0002"][1].status == api_pb2.STATUS_FAILURE


def test_rewritten_whole_from_the_trials_each_time(tmp_path: Path) -> None:
    write_hparams(tmp_path, TRIALS, KEYS, "val_loss")
    write_hparams(tmp_path, TRIALS[:1], KEYS, "val_loss")
    _, sessions = _read(tmp_path / FOLDER)
    assert sorted(sessions) == ["trial-0000"]  # no trial left over from the earlier picture
    assert sorted(p.name for p in tmp_path.iterdir()) == [FOLDER]  # no temporary folder left beside it


def test_written_without_tensorflow(tmp_path: Path) -> None:
    """The sweep's parent never imports TensorFlow: neither does writing the dashboard."""
    code = ("import sys; from pathlib import Path; from kerun.orchestrate.hparams import write_hparams; "
            f"write_hparams(Path({str(tmp_path)!r}), [{{'number': 0, 'state': 'completed', 'value': 1.0, 'values': {{'a': 1}}}}], ['a'], 'loss'); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert any((tmp_path / FOLDER / "trial-0000").iterdir())
