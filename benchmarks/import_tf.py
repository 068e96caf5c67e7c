"""The floor for time to the first step: a process that only imports TensorFlow (and Keras)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import T0, write_result  # noqa: E402

import tensorflow  # noqa: E402,F401
import keras  # noqa: E402,F401

write_result({"first_step_s": time.time() - T0, "samples_per_s": None, "exit_code": 0})
