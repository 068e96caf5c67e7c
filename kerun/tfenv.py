"""TensorFlow's start-up noise, turned down before it is imported.

TensorFlow's C++ runtime writes info lines straight to file descriptor 2 ("oneDNN custom
operations are on", "Could not find cuda drivers", "failed call to cuInit" ...), and
``TF_CPP_MIN_LOG_LEVEL`` does not silence all of them. For the command line,
:func:`filter_native_stderr` puts a filter between descriptor 2 and the terminal that drops those
known lines and passes everything else through; Python's own ``sys.stderr`` keeps writing to the
real terminal, so progress bars still see a terminal. ``KERUN_TF_LOGS=1`` shows everything.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

__all__ = ["filter_native_stderr", "quiet_tensorflow"]

_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IWE]\d{4} [\d:.]+\s+\d+ (port|cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor|cuda_dnn|cuda_blas|"
    rb"cuda_fft|computation_placer|gpu_device|dso_loader)\.cc:\d+\]"
    rb"|To enable the following instructions: .* in other operations, rebuild TensorFlow"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)"
)
_installed = False


def filter_native_stderr() -> None:
    """Route descriptor 2 through a thread that drops TensorFlow's known start-up lines."""
    global _installed
    if _installed or os.environ.get("KERUN_TF_LOGS"):
        return
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return
    _installed = True
    sys.stderr = open(os.dup(real), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace")

    def pump() -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while True:
                chunk = pipe.read(65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                out = b"".join(line + b"\n" for line in lines if not _NOISE.match(line))
                if out:
                    os.write(real, out)
            if pending and not _NOISE.match(pending):
                os.write(real, pending)

    thread = threading.Thread(target=pump, name="kerun-stderr-filter", daemon=True)
    thread.start()

    def drain() -> None:
        try:
            os.dup2(real, 2)  # closes the pipe's last write end, so the pump sees the end
        except OSError:
            return
        thread.join(timeout=2)

    atexit.register(drain)


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ info logs and absl warnings unless the user asked for them."""
    if not os.environ.get("KERUN_TF_LOGS"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging

    import tensorflow as tf  # noqa: F401  (imported once, here)

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover
        pass
