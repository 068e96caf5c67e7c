"""A sweep's trials in TensorBoard's HParams dashboard: ``tensorboard --logdir SWEEP/tensorboard``.

Written by the sweep's parent, which knows every trial's values, objective and outcome (completed,
pruned, failed) and never imports TensorFlow: the summaries are the hparams plugin's own protos
(what ``tensorboard.plugins.hparams.summary`` builds, minus its TensorFlow import) written with
TensorBoard's ``RecordWriter`` into plain files. The trials' run folders are left as they are. The folder
is rewritten whole from the study after the sweep (or its interruption): a new folder beside, then
swapped in, so a reader never sees half of it.

Layout, as the plugin expects: ``tensorboard/`` holds the experiment (the hyper-parameters and the
objective), ``tensorboard/trial-NNNN/`` one session each: its values, the objective as a scalar
(step = the trial's epochs), the session's end status.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterable

__all__ = ["FOLDER", "write_hparams"]

FOLDER = "tensorboard"


def _summary(tag: str, plugin_data: Any) -> Any:
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import metadata

    meta = metadata.create_summary_metadata(plugin_data)
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=metadata.NULL_TENSOR)])


def _write(logdir: Path, summaries: Iterable[tuple[Any, int]], wall_time: float) -> None:
    """One event file, as TensorBoard's EventFileWriter writes it, but with a plain file: that
    writer opens files through ``tf.io.gfile``, which imports TensorFlow when it is installed."""
    import socket

    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    logdir.mkdir(parents=True, exist_ok=True)
    name = logdir / f"events.out.tfevents.{int(wall_time):010d}.{socket.gethostname()}.{os.getpid()}.0"
    with name.open("wb") as f:
        writer = RecordWriter(f)
        writer.write(event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2").SerializeToString())
        for summary, step in summaries:
            writer.write(event_pb2.Event(wall_time=wall_time, step=step, summary=summary).SerializeToString())
        f.flush()
        os.fsync(f.fileno())


def _value(v: Any) -> Any:
    return v if isinstance(v, (bool, int, float, str)) else str(v)


def write_hparams(folder: Path, trials: list[dict[str, Any]], keys: list[str], metric: str) -> Path:
    """``trials``: one mapping per trial, ``number``, ``values`` ({key: value}), ``value`` (the
    objective or None), ``state`` ("completed", "pruned", "failed", "running"), ``epochs``."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    kinds = {}
    for key in keys:
        seen = [_value(t["values"][key]) for t in trials if key in t["values"]]
        kinds[key] = (api_pb2.DATA_TYPE_BOOL if seen and all(isinstance(v, bool) for v in seen)
                      else api_pb2.DATA_TYPE_FLOAT64 if seen and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen)
                      else api_pb2.DATA_TYPE_STRING)
    now = time.time()
    target = folder / FOLDER
    fresh = folder / f".{FOLDER}.new"
    shutil.rmtree(fresh, ignore_errors=True)
    experiment = api_pb2.Experiment(
        time_created_secs=now,
        hparam_infos=[api_pb2.HParamInfo(name=k, type=kinds[k]) for k in keys],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=metric), display_name=metric)],
    )
    _write(fresh, [(_summary(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)), 0)], now)
    statuses = {"completed": api_pb2.STATUS_SUCCESS, "pruned": api_pb2.STATUS_SUCCESS, "failed": api_pb2.STATUS_FAILURE}
    for t in trials:
        start = plugin_data_pb2.SessionStartInfo(start_time_secs=now, group_name=f"trial-{t['number']:04d}")
        for key, v in t["values"].items():
            v = _value(v)
            if kinds.get(key) == api_pb2.DATA_TYPE_BOOL:
                start.hparams[key].bool_value = bool(v)
            elif kinds.get(key) == api_pb2.DATA_TYPE_FLOAT64:
                start.hparams[key].number_value = float(v)
            else:
                start.hparams[key].string_value = str(v)
        events: list[tuple[Any, int]] = [
            (_summary(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start)), 0)]
        if t.get("value") is not None:
            scalar = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=metric, simple_value=float(t["value"]))])
            events.append((scalar, int(t.get("epochs") or 0)))
        end = plugin_data_pb2.SessionEndInfo(status=statuses.get(t.get("state", ""), api_pb2.STATUS_UNKNOWN), end_time_secs=now)
        events.append((_summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end)), 0))
        _write(fresh / f"trial-{t['number']:04d}", events, now)
    old = folder / f".{FOLDER}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target
