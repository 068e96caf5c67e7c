"""TensorFlow's C++ start-up lines are kept off the command line's stderr; real errors are not."""

from __future__ import annotations

import os
import subprocess
import sys

from kerun_testing import ROOT, SPECS
from kerun.tfenv import _NOISE

NOISE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1795401612.884691   30506 port.cc:153] oneDNN custom operations are on. You may see ...",
    b"I0000 00:00:1795401610.901049   30506 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
    b"E0000 00:00:1795398195.534847    4408 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
    b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.",
]
KEPT = [
    b"specs/x.yaml:4:7: model.layers[0]: Conv2D: expected min_ndim=4",
    b"E0000 00:00:1795398195.534847    4408 some_kernel.cc:52] a real kernel error",
    b"Traceback (most recent call last):",
]


def test_noise_pattern() -> None:
    assert all(_NOISE.match(line) for line in NOISE)
    assert not any(_NOISE.match(line) for line in KEPT)


def test_cli_stderr_is_clean_and_the_switch_shows_everything() -> None:
    cmd = [sys.executable, "-m", "kerun", "summary", str(SPECS / "iris_mlp.yaml"), "--json"]
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERUN_TF_LOGS")}
    quiet = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    assert quiet.returncode == 0
    assert not any(_NOISE.match(line.encode()) for line in quiet.stderr.splitlines()), quiet.stderr
    loud = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**env, "KERUN_TF_LOGS": "1"})
    assert loud.returncode == 0
    # this TensorFlow (2.21 on a CPU) prints its start-up lines: the switch lets them through
    assert any(_NOISE.match(line.encode()) for line in loud.stderr.splitlines()), loud.stderr
    assert len(loud.stderr) > len(quiet.stderr)
