"""What a run trained on: the CPU, the GPUs and their memory, the devices of its strategy.

Recorded in the manifest under ``devices`` when training starts (:func:`describe_devices`), so a
run folder says where its numbers came from. The CPU model is read from ``/proc/cpuinfo`` (or
:func:`platform.processor` elsewhere); GPUs are TensorFlow's physical GPU devices with the name
and compute capability TensorFlow reports, and their total memory from ``nvidia-smi`` when it is
installed (TensorFlow itself reports only the memory in use).
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["cpu_model", "describe_devices", "gpus"]


@functools.cache
def cpu_model() -> str:
    """The CPU's model name, e.g. ``"AMD EPYC 7B13"``; ``"unknown"`` when nothing says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _nvidia_memory() -> list[int]:
    """Total memory of each NVIDIA GPU in MiB, in nvidia-smi's order; empty without nvidia-smi."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return [int(float(v)) for v in out.split()]
    except (OSError, subprocess.SubprocessError, ValueError):
        return []


def gpus() -> list[dict[str, Any]]:
    """TensorFlow's physical GPUs: device, name, compute capability and total memory (MiB)."""
    import tensorflow as tf

    found = tf.config.list_physical_devices("GPU")
    memory = _nvidia_memory() if found else []
    out: list[dict[str, Any]] = []
    for i, device in enumerate(found):
        details = tf.config.experimental.get_device_details(device)
        capability = details.get("compute_capability")
        out.append(
            {
                "device": device.name.replace("/physical_device:", ""),
                "name": details.get("device_name", "unknown"),
                "compute_capability": ".".join(map(str, capability)) if capability else None,
                "memory_mib": memory[i] if i < len(memory) else None,
            }
        )
    return out


def describe_devices(strategy: Any = None) -> dict[str, Any]:
    """The manifest's ``devices``: CPU, GPUs, and the devices the strategy places replicas on."""
    info: dict[str, Any] = {
        "cpu": {"model": cpu_model(), "cores": os.cpu_count()},
        "gpus": gpus(),
    }
    if strategy is not None:
        try:
            replicas = [str(d) for d in strategy.extended.worker_devices]
        except RuntimeError:  # the default strategy: TensorFlow's own placement, one replica
            replicas = []
        info["strategy"] = type(strategy).__name__.lstrip("_")
        info["replicas"] = replicas or ["default placement (one replica)"]
    return info
