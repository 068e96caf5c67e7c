"""The parent/child protocol (kerun.orchestrate.child): results, stages, environment, stopping."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from kerun.orchestrate import child


def test_the_result_is_the_last_json_object_whatever_was_printed_before() -> None:
    text = 'a plugin says {hello}\n{"not": "the result"}\n{\n  "status": "completed",\n  "metrics": {"train": {"loss": 1}}\n}\n'
    assert child.parse_result(text) == {"status": "completed", "metrics": {"train": {"loss": 1}}}
    assert child.parse_result('{"error": "SpecError", "problems": []}') == {"error": "SpecError", "problems": []}
    # the first "{" of the text is not where the result starts (the old scraper took it from there)
    assert child.parse_result("{oops\n" + '{"status": "failed"}') == {"status": "failed"}
    assert child.parse_result("Traceback (most recent call last):\n  boom\n") is None
    assert child.parse_result('{\n  "truncated": ') is None
    assert child.parse_result("[1, 2]") is None


def test_stage_and_message_lines_read_back() -> None:
    assert child.parse_stage(child.stage_line("train")) == "train"
    assert child.parse_stage("KERUN_STAGE ") is None and child.parse_stage("training...") is None
    line = child.message_line("result", id=3, result={"a": [1]})
    assert line.endswith("\n") and child.parse_message(line) == {"kind": "result", "id": 3, "result": {"a": [1]}}
    assert child.parse_message("KERUN_MSG {not json") is None and child.parse_message("print('x')") is None


def test_a_child_environment_has_the_lifeline_and_run_folder_and_no_foreign_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    env = child.child_environment(run_dir=tmp_path)
    assert env[child.RUN_DIR_ENV] == str(tmp_path) and "TF_CONFIG" not in env
    assert env["KERUN_PARENT_PID"] == str(os.getpid())
    assert child.child_environment(tf_config="{}")["TF_CONFIG"] == "{}"
    assert child.train_command(tmp_path / "s.yaml", ["a=1"])[-5:] == ["train", str(tmp_path / "s.yaml"), "--set", "a=1", "--json"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX process groups")
def test_stop_group_terminates_then_kills_what_ignores_sigterm() -> None:
    polite = child.start([sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ))
    stubborn = child.start([sys.executable, "-c", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                            "print('ready', flush=True)\ntime.sleep(60)"], dict(os.environ), stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    child.stop_group([polite, stubborn], grace=1.0)
    assert polite.returncode == -15 and stubborn.returncode == -9
    assert time.monotonic() - t0 < 5
