"""``model.dtype_policy``: mixed-precision runs of two examples on the CPU, checked for correctness.

Mixed precision is slower on a CPU; these tests check what it computes, not its speed (that is
benchmarks/gpu_smoke.py's job, on a GPU): the layers carry the policy into model.keras, the
output stays float32, mixed_float16 scales the loss, the global policy is put back, and the
metrics stay within tolerance of the float32 run of the same spec and seed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kerun.errors import BuildError, SpecError
from kerun.run.train import TrainOptions, train_file
from kerun.spec import load_spec, spec_from_text
from kerun_testing import SPECS

pytestmark = pytest.mark.tf

# (example, overrides, policies): short trainings, same seed for every policy
RUNS = {
    "iris_mlp": (["train.epochs=15"], ("float32", "mixed_float16", "mixed_bfloat16")),
    "digits_cnn": (["train.epochs=2", "train.callbacks=[]"], ("float32", "mixed_float16")),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    folder = tmp_path_factory.mktemp("precision")
    out = {}
    for example, (overrides, policies) in RUNS.items():
        for policy in policies:
            out[example, policy] = train_file(SPECS / f"{example}.yaml", [*overrides, f"model.dtype_policy={policy}"],
                                              TrainOptions(runs_dir=folder / "runs", progress="quiet"))
    return out


@pytest.mark.parametrize("example,policy", [(e, p) for e, (_, ps) in RUNS.items() for p in ps if p != "float32"])
def test_metrics_within_tolerance_of_float32(runs: dict[tuple[str, str], Any], example: str, policy: str) -> None:
    mixed, full = runs[example, policy].metrics, runs[example, "float32"].metrics
    for split in ("validation", "test"):
        assert mixed[split]["accuracy"] == pytest.approx(full[split]["accuracy"], abs=0.05), (split, mixed, full)
        assert mixed[split]["loss"] == pytest.approx(full[split]["loss"], rel=0.05), (split, mixed, full)


@pytest.mark.parametrize("example,policy", [(e, p) for e, (_, ps) in RUNS.items() for p in ps])
def test_saved_layers_carry_the_policy_and_the_output_is_float32(runs: dict[tuple[str, str], Any], example: str,
                                                                 policy: str) -> None:
    import keras

    result = runs[example, policy]
    saved = keras.saving.load_model(result.run_dir / "model.keras", compile=False)
    *hidden, last = [layer for layer in saved.layers if layer.weights or layer.__class__.__name__ != "InputLayer"]
    stats = [layer for layer in hidden if type(layer).__name__ == "Normalization"]
    assert last.dtype_policy.name == "float32"  # the output entry, as Keras's guide does it
    assert saved.outputs[0].dtype == "float32"
    assert all(layer.dtype_policy.name == "float32" for layer in stats)  # data statistics stay float32
    compute = {layer.dtype_policy.name for layer in hidden if layer not in stats}
    assert compute == {policy}
    for weight in saved.weights:  # variables are float32 under every policy
        assert str(weight.dtype) in ("float32", "int64"), weight.path
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["dtype_policy"] == policy
    # the loss is scaled under mixed_float16 only, as Keras does it
    optimizer = type(result.built.model.optimizer).__name__
    assert (optimizer == "LossScaleOptimizer") == (policy == "mixed_float16")


def test_the_global_policy_is_put_back_after_a_build(runs: dict[tuple[str, str], Any]) -> None:
    import keras

    from kerun.model.model import build_model

    assert keras.config.dtype_policy().name == "float32"  # after every run of the fixture
    built = build_model(load_spec(SPECS / "iris_mlp.yaml", ["model.dtype_policy=mixed_bfloat16"]))
    assert built.model.layers[1].dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"


def test_an_unknown_policy_is_a_spec_error() -> None:
    text = (SPECS / "iris_mlp.yaml").read_text().replace("  inputs: {features: [4]}\n",
                                                        "  inputs: {features: [4]}\n  dtype_policy: float16\n")
    with pytest.raises(SpecError) as info:
        spec_from_text(text, file="iris_mlp.yaml")
    message = str(info.value)
    assert "iris_mlp.yaml:" in message and "model.dtype_policy" in message and "mixed_float16" in message


def test_a_sub_model_policy_is_set_on_the_model_instead() -> None:
    from kerun.model.model import build_model

    text = """\
name: sub
models:
  block:
    inputs: {x: [4]}
    dtype_policy: mixed_float16
    layers:
      - {type: Dense, units: 4}
model:
  inputs: {x: [4]}
  layers:
    - {type: block}
    - {type: Dense, units: 2}
"""
    with pytest.raises(BuildError, match=r"sub.yaml:5:\d+: .*models.block.dtype_policy") as info:
        build_model(spec_from_text(text, file="sub.yaml"))
    assert "set dtype_policy: mixed_float16 on model:" in str(info.value)
