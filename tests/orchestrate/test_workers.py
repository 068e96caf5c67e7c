"""Warm workers: one process runs spec after spec in a fresh Keras state; a worker that crashes or
grows past its memory bound is replaced and fails only its spec."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from kerun.orchestrate.check import CheckOptions, check_specs

GOOD = """\
name: good
seed: 1
data:
  train: {type: synthetic, size: 64, fields: {x: {shape: [4]}, label: {classes: 2}}}
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
train: {batch_size: 8}
"""


def _with_plugin(folder: Path, name: str, code: str) -> Path:
    (folder / f"{name}.py").write_text(code)
    spec = folder / f"{name}.yaml"
    spec.write_text(f"plugins: [{name}.py]\n" + GOOD.replace("name: good", f"name: {name.replace('_', '-')}"))
    return spec


def test_a_crashing_worker_fails_only_its_spec(tmp_path: Path) -> None:
    crash = _with_plugin(tmp_path, "a_crash", "import os\nprint('about to crash', flush=True)\nos._exit(3)\n")
    good = tmp_path / "b_good.yaml"
    good.write_text(GOOD)
    results = check_specs([crash, good], CheckOptions(steps=1, jobs=1, timeout=120))
    by_name = {Path(r.spec).stem: r for r in results}
    assert by_name["a_crash"].result == "failed" and by_name["a_crash"].stage == "build"
    assert by_name["a_crash"].message.startswith("the check process died (exit code 3) in stage build")
    assert "about to crash" in by_name["a_crash"].message  # what the spec printed, not another spec's output
    assert by_name["b_good"].result == "passed" and by_name["b_good"].stage == "evaluate"  # in a new worker


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resident memory is read from /proc")
def test_a_worker_past_its_memory_bound_is_killed_and_its_spec_fails(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    # any process that imports TensorFlow holds more than 64 MB: killed at the first look
    (result,) = check_specs([good], CheckOptions(steps=1, jobs=1, timeout=120, memory_mb=64))
    assert result.result == "failed"
    assert result.message.startswith("the check process used more than 64 MB in stage ")


def test_a_job_leaves_no_trace_in_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras
    import numpy as np

    from kerun.model import plugins
    from kerun.orchestrate.worker import fresh_state

    plugin = tmp_path / "layer_plugin.py"
    plugin.write_text("import keras\n@keras.saving.register_keras_serializable('t')\nclass Twice(keras.layers.Layer):\n"
                      "    def call(self, x):\n        return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = (keras.config.floatx(), keras.config.dtype_policy().name, dict(keras.saving.get_custom_objects()), dict(plugins._loaded))
    with fresh_state():
        import layer_plugin  # noqa: F401  (a plugin module imported by name)

        plugins._import_file(plugin)
        keras.config.set_floatx("float16")
        keras.config.set_dtype_policy("mixed_float16")
        os.environ["KERUN_TEST_LEAK"] = "1"
        os.chdir(tmp_path)
        sys.argv.append("--leak")
        keras.utils.set_random_seed(7)
        assert "t>Twice" in keras.saving.get_custom_objects()
    after = (keras.config.floatx(), keras.config.dtype_policy().name, dict(keras.saving.get_custom_objects()), dict(plugins._loaded))
    assert after == before
    assert "layer_plugin" not in sys.modules and not any(m.startswith("kerun_plugin_layer_plugin") for m in sys.modules)
    assert "KERUN_TEST_LEAK" not in os.environ and Path.cwd() != tmp_path and "--leak" not in sys.argv
    # the seed a job set does not carry over: the next job draws as a fresh process would
    draws = []
    for _ in range(2):
        with fresh_state():
            draws.append((np.random.rand(), float(keras.random.uniform(()))))
    assert draws[0][0] != draws[1][0] and draws[0][1] != draws[1][1]
