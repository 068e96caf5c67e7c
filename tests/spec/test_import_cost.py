"""What ``kerun validate`` pays for at start-up (issue 18): the costs cut are kept cut.

One fresh interpreter (no TensorFlow, well under a second) imports the spec layer, checks one
spec, and reports what had been built by then; the speed itself is measured by
``benchmarks/validate_startup.py``, never here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kerun_testing import ROOT

PROBE = r"""
import json, os, sys
import kerun.spec
from kerun.spec import base, catalog
from kerun.spec.root import KerunSpec

def spec_classes(cls=base.SpecModel):
    for sub in cls.__subclasses__():
        yield sub
        yield from spec_classes(sub)

facts = {"built_at_import": sorted(c.__name__ for c in spec_classes() if c.__pydantic_complete__)}
kerun.spec.load_spec(sys.argv[1])
import pydantic.plugin._loader as plugins
facts["plugins_scanned"] = plugins._plugins is not None
facts["plugins_env_left"] = "PYDANTIC_DISABLE_PLUGINS" in os.environ
facts["kinds_made_whole"] = catalog._classes.cache_info().currsize
made = getattr(catalog, "_class", None)  # absent before the catalogue was made lazily
facts["classes_made"] = made.cache_info().currsize if made else None
facts["top_built"] = KerunSpec.__pydantic_complete__
print(json.dumps(facts))
"""


@pytest.fixture(scope="module")
def facts() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "specs" / "iris_mlp.yaml")], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_builds_no_validator(facts: dict) -> None:
    # SpecModel's defer_build: importing the spec layer only declares the classes
    assert facts["built_at_import"] == []
    assert facts["top_built"] is True  # ... and checking a spec builds what it needs


def test_checking_a_spec_scans_no_plugin_entry_points(facts: dict) -> None:
    assert facts["plugins_scanned"] is False
    assert facts["plugins_env_left"] is False  # the switch is put back: a user's own models keep their plugins


def test_catalogue_entries_are_made_for_the_names_a_spec_uses(facts: dict) -> None:
    assert facts["kinds_made_whole"] == 0
    assert 0 < facts["classes_made"] < 20  # iris_mlp names a few layers and an optimizer, of ~450 classes
