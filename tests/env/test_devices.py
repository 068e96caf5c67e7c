"""The manifest says where a run trained; ``distribute: mirrored`` on several logical CPU devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kerun.errors import RunError
from kerun.run.train import TrainOptions, train_file
from kerun_testing import ROOT, small_spec_text

pytestmark = pytest.mark.tf

SPEC = small_spec_text(without=("test", "dropout", "checkpoint"), replace={"name: small\n": "name: m\n"}) % {
    "size": 128, "epochs": 3}


# Two logical CPU devices must exist before TensorFlow starts: a fresh process.
TWO_REPLICAS = """\
import json, sys
from pathlib import Path
from kerun.errors import RunError
from kerun.run.train import TrainOptions, train_file
spec, runs = Path(sys.argv[1]), Path(sys.argv[2])
try:
    r = train_file(spec, ["distribute.strategy=mirrored"], TrainOptions(runs_dir=runs, progress="quiet"))
except RunError as exc:  # Keras 3.7
    left = [json.loads(p.read_text())["status"] for p in runs.rglob("manifest.json")]
    print("RESULT " + json.dumps({"refused_replicas": str(exc), "left": left}))
    sys.exit(0)
out = {"metrics": r.metrics, "manifest": json.loads((r.run_dir / "manifest.json").read_text())}
try:
    train_file(spec, ["distribute.strategy=mirrored", "compile.steps_per_execution=8"],
               TrainOptions(runs_dir=runs, progress="quiet"))
except RunError as exc:
    out["refused"] = str(exc)
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("devices") / "m.yaml"
    path.write_text(SPEC)
    return path


def test_the_manifest_records_the_devices_and_what_jit_compile_auto_chose(spec: Path) -> None:
    import tensorflow as tf

    from kerun.run.devices import cpu_model

    result = train_file(spec, [], TrainOptions(runs_dir=spec.parent / "runs", progress="quiet"))
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    devices = manifest["devices"]
    assert devices["cpu"] == {"model": cpu_model(), "cores": os.cpu_count()}
    assert devices["cpu"]["model"] not in ("", "unknown")
    assert [g["device"] for g in devices["gpus"]] == [d.name.replace("/physical_device:", "")
                                                       for d in tf.config.list_physical_devices("GPU")]
    assert devices["strategy"] == "DefaultDistributionStrategy"
    # jit_compile: auto is Keras's own choice per device: XLA off on a CPU-only machine
    assert manifest["jit_compile"] is bool(result.built.model.jit_compile)
    if not tf.config.list_physical_devices("GPU"):
        assert manifest["jit_compile"] is False


def test_a_bad_cpu_device_count_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf

    from kerun.run.distribute import split_cpu

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("KERUN_CPU_DEVICES applies to machines without a GPU")
    monkeypatch.setenv("KERUN_CPU_DEVICES", "two")
    with pytest.raises(RunError, match="KERUN_CPU_DEVICES='two': expected a positive number"):
        split_cpu()


def test_mirrored_on_two_logical_cpus_trains_as_one_replica_does(spec: Path) -> None:
    env = {**os.environ, "KERUN_CPU_DEVICES": "2", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", TWO_REPLICAS, str(spec), str(spec.parent / "runs2")], env=env,
                          capture_output=True, text=True, timeout=300, cwd=spec.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    two = json.loads(line[len("RESULT "):])
    import keras

    if tuple(int(v) for v in keras.__version__.split(".")[:2]) < (3, 8):
        # Keras 3.7 adds up the two replicas' gradients (each step twice one replica's): refused
        # before training, the run recorded as failed, where it used to train another model than
        # the spec says with a completed status
        assert "with 2 replicas: Keras 3.7" in two["refused_replicas"], two
        assert "adds up the replicas' gradients instead of averaging them" in two["refused_replicas"]
        # where it was asked for: the --set of the command line here (a spec's file and line otherwise)
        assert two["refused_replicas"].startswith("--set distribute.strategy=mirrored: distribute.strategy: mirrored with")
        assert two["left"] == ["failed"]
        return
    assert two["manifest"]["devices"]["strategy"] == "MirroredStrategy"
    assert [d.rsplit("/", 1)[-1] for d in two["manifest"]["devices"]["replicas"]] == ["device:CPU:0", "device:CPU:1"]
    # a multi-step loop fails across replicas (Keras 3): one step per call, an explicit value refused
    assert "compile.steps_per_execution: mirrored with 2 replicas trains one step per call, got 8" in two["refused"]
    # the same global batch split over two replicas computes what one replica computes, to float32
    # rounding (Keras 3.8 and later average the replicas' gradients)
    one = train_file(spec, ["distribute.strategy=mirrored", "compile.steps_per_execution=1"],
                     TrainOptions(runs_dir=spec.parent / "runs", progress="quiet"))
    for split in ("train", "validation"):
        for name, value in one.metrics[split].items():
            assert two["metrics"][split][name] == pytest.approx(value, rel=1e-4, abs=1e-6), (split, name)
