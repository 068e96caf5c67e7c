"""One catalogue of Keras names per supported Keras minor version, chosen without importing Keras.

No TensorFlow here: the installed Keras is faked with a ``keras-X.Y.Z.dist-info`` folder put first
on ``PYTHONPATH``, which is all ``importlib.metadata`` reads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kerun.spec import catalogs
from kerun_testing import ROOT

SPEC = """\
name: s
data:
  train: {type: synthetic, size: 8, fields: {x: {shape: [4]}, label: {classes: 2}}}
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 2, activation: softmax}
compile:
  optimizer: {type: Muon}     # new in Keras 3.13
  loss: sparse_categorical_crossentropy
"""


def supported_minors() -> list[tuple[int, int]]:
    """The Keras minor versions pyproject.toml's keras requirement admits."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    keras = next(d for d in deps if re.match(r"keras\b", d))
    low = re.search(r">=(\d+)\.(\d+)", keras)
    high = re.search(r"<(\d+)\.(\d+)", keras)
    assert low and high, keras
    major = int(low.group(1))
    assert int(high.group(1)) == major
    return [(major, m) for m in range(int(low.group(2)), int(high.group(2)))]


def test_every_supported_keras_minor_has_its_own_catalogue() -> None:
    shipped = catalogs.available()
    assert list(shipped) == supported_minors()
    for (major, minor), path in shipped.items():
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["keras_version"].startswith(f"{major}.{minor}."), path
        assert set(data["kinds"]) >= {"layer", "optimizer", "loss", "metric"}, path
    assert shipped[max(shipped)] == catalogs.NEWEST_FILE
    # the catalogues really differ: Muon came with Keras 3.13
    has_muon = {k: "Muon" in json.loads(p.read_text())["kinds"]["optimizer"]["classes"] for k, p in shipped.items()}
    assert not has_muon[(3, 7)] and has_muon[(3, 15)]


def test_select_exact_nearest_and_warning() -> None:
    shipped = catalogs.available()
    assert catalogs.select("3.7.0") == (shipped[(3, 7)], None)
    assert catalogs.select("3.10.0rc1") == (shipped[(3, 10)], None)
    assert catalogs.select(catalogs.NEWEST + ".9") == (catalogs.NEWEST_FILE, None)
    assert catalogs.select(None) == (catalogs.NEWEST_FILE, None)  # no Keras: nothing to disagree with
    newest = ".".join(map(str, max(shipped)))
    path, warning = catalogs.select("3.99.0")
    assert path == catalogs.NEWEST_FILE
    assert warning is not None and "\n" not in warning
    assert "Keras 3.99.0" in warning and f"against Keras {newest}'s" in warning
    path, warning = catalogs.select("3.2.1")  # older than the range: the oldest catalogue
    assert path == shipped[min(shipped)] and warning is not None


def _fake_keras(folder: Path, version: str) -> dict[str, str]:
    info = folder / f"keras-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: keras\nVersion: {version}\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}


def _validate(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    return subprocess.run([sys.executable, "-m", "kerun", "validate", "s.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("version", ["3.7.0", "3.99.0"])
def test_validate_checks_names_against_the_installed_keras(tmp_path: Path, version: str) -> None:
    done = _validate(tmp_path, _fake_keras(tmp_path / "site", version))
    if version == "3.7.0":  # Keras 3.7 has no Muon: the spec names a class that is not there
        assert done.returncode == 2, done.stderr
        assert "s.yaml:9:21: compile.optimizer.type: unknown optimizer 'Muon'" in done.stdout + done.stderr
        assert "warning" not in done.stderr
    else:  # a newer Keras than any catalogue: the newest one, one line of warning, no failure
        assert done.returncode == 0, done.stdout + done.stderr
        warnings = [line for line in done.stderr.splitlines() if "warning" in line]
        assert len(warnings) == 1 and "Keras 3.99.0 has no catalogue of its own" in warnings[0], done.stderr


def test_the_installed_version_is_the_one_importlib_metadata_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    assert catalogs.installed_keras() == importlib.metadata.version("keras")
    site = tmp_path / "site"
    for decoy in ("keras_hub-0.20.0.dist-info", "keras-tuner-1.4.7.dist-info", "keras-9.9.9.dist-info.bak"):
        (site / decoy).mkdir(parents=True)
        (site / decoy / "METADATA").write_text("Metadata-Version: 2.1\nName: x\nVersion: 0.0.1\n")
    monkeypatch.setattr(sys, "path", [str(site)])
    assert catalogs._dist_info_version("keras") is None  # other distributions are not Keras
    _fake_keras(site, "3.11.2")
    (site / "keras-3.11.2.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: keras\nVersion: 3.11.2\n\nVersion: 1.0 (the description, not a header)\n")
    assert catalogs._dist_info_version("keras") == "3.11.2" == catalogs.installed_keras()
    (site / "keras-3.11.2.dist-info" / "METADATA").unlink()  # unreadable: the standard library's search decides
    assert catalogs._dist_info_version("keras") is None
