"""Tests for kerun.spec.catalog and the committed catalog.json it reads.

``test_committed_catalog_matches_installed_keras`` is the only test that imports TensorFlow/Keras
(marked ``tf``; it takes several seconds): it regenerates the catalogue with
``tools/gen_catalog.py`` and fails when the committed JSON is stale, e.g. after a Keras upgrade.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from kerun.spec import catalog, catalogs

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "tools" / "gen_catalog.py"
# the catalogue of the installed Keras: catalog.json for the newest, catalogs/keras-X.Y.json else
CATALOG_JSON = catalogs.catalog_file()
CATALOG_PY = REPO / "kerun" / "spec" / "catalog.py"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kerun_gen_catalog", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------
# (1) the committed JSON is what the installed Keras produces
# ---------------------------------------------------------------------------------------------
@pytest.mark.tf  # the one test that imports TensorFlow/Keras
def test_committed_catalog_matches_installed_keras() -> None:
    pytest.importorskip("keras")
    gen = _load_generator()
    fresh = gen.build_catalog()
    committed_text = CATALOG_JSON.read_text(encoding="utf-8")
    committed = json.loads(committed_text)
    assert committed["keras_version"] == fresh["keras_version"], (
        "catalog.json was generated for another Keras; run: python tools/gen_catalog.py"
    )
    for kind in fresh["kinds"]:
        assert committed["kinds"].get(kind) == fresh["kinds"][kind], (
            f"catalog.json is stale for kind {kind!r}; run: python tools/gen_catalog.py"
        )
    assert committed == fresh, "catalog.json is stale; run: python tools/gen_catalog.py"
    # byte-for-byte: the generator is deterministic and the file was not hand-edited
    assert committed_text == gen.render(fresh)
    assert tuple(gen.KINDS) == catalog.KINDS


# ---------------------------------------------------------------------------------------------
# (2) the API
# ---------------------------------------------------------------------------------------------
def test_json_shape_and_size() -> None:
    data = json.loads(CATALOG_JSON.read_text(encoding="utf-8"))
    assert tuple(data["kinds"]) == tuple(sorted(catalog.KINDS))
    assert CATALOG_JSON.stat().st_size < 1_500_000
    for kind, entry in data["kinds"].items():
        assert set(entry) >= {"classes", "aliases", "identifiers"}, kind
        for alias, canonical in entry["aliases"].items():
            assert canonical in entry["classes"], (kind, alias)
        for name, cls in entry["classes"].items():
            assert cls["module"].startswith("keras."), name
            for arg, info in cls["args"].items():
                assert info["type"] in {"bool", "int", "float", "str", "list", "null", "other"}, (name, arg)
                assert isinstance(info["required"], bool)


def test_versions() -> None:
    assert catalog.keras_version() == json.loads(CATALOG_JSON.read_text())["keras_version"]
    assert catalog.keras_version().count(".") == 2
    assert catalog.tensorflow_version()


def test_counts_are_plausible() -> None:
    # guards against a generator that silently catalogues (almost) nothing
    assert len(catalog.class_names("layer")) > 100
    assert len(catalog.class_names("optimizer")) >= 10
    assert len(catalog.class_names("callback")) >= 10
    assert catalog.class_names("activation") == []
    for kind in ("layer", "callback", "schedule"):
        assert catalog.identifiers(kind) == [], kind


def test_conv2d_args() -> None:
    info = catalog.lookup("layer", "Conv2D")
    assert info is not None
    assert info.kind == "layer" and info.name == "Conv2D" and info.module == "keras.layers"
    for arg in ("filters", "kernel_size", "padding", "strides", "activation", "kernel_regularizer"):
        assert arg in info.args, arg
    for arg in ("name", "dtype", "trainable", "input_shape"):  # base Layer kwargs
        assert arg in info.args, arg
    assert info.args["filters"].required and info.args["kernel_size"].required
    assert info.args["padding"] == catalog.ArgInfo("padding", False, "valid", "str")
    assert info.args["use_bias"].type == "bool" and info.args["use_bias"].default is True
    assert info.args["groups"].type == "int"
    assert info.args["strides"].type == "list" and info.args["strides"].default == [1, 1]
    assert info.args["input_shape"].via_kwargs
    # what Conv2D passes to its base itself is not user-settable
    assert "rank" not in info.args
    assert "self" not in info.args and "kwargs" not in info.args
    assert info.var_kwargs is False and info.unsafe is False
    assert info.required_args == ("filters", "kernel_size")


def test_aliases() -> None:
    conv = catalog.lookup("layer", "Convolution2D")
    assert conv is not None and conv.name == "Conv2D"
    assert "Convolution2D" in conv.aliases
    assert catalog.lookup("layer", "MaxPool2D").name == "MaxPooling2D"  # type: ignore[union-attr]
    assert "Convolution2D" in catalog.class_names("layer")
    assert "Conv2D" in catalog.class_names("layer")
    assert catalog.class_names("layer") == sorted(catalog.class_names("layer"))
    assert catalog.lookup("layer", "conv2d") is None  # class names are case-sensitive
    assert catalog.lookup("layer", "NoSuchLayer") is None


def test_other_kinds() -> None:
    l2 = catalog.lookup("regularizer", "L2")
    assert l2 is not None and "l2" in l2.args and not l2.args["l2"].required
    assert l2.args["l2"].type == "float"
    decay = catalog.lookup("schedule", "ExponentialDecay")
    assert decay is not None and decay.kind == "schedule"
    assert {"initial_learning_rate", "decay_steps", "decay_rate"} <= set(decay.args)
    assert decay.args["decay_steps"].required
    assert catalog.lookup("layer", "ExponentialDecay") is None
    adam = catalog.lookup("optimizer", "Adam")
    assert adam is not None
    for arg in ("learning_rate", "beta_1", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm",
                "use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
                "gradient_accumulation_steps", "name"):
        assert arg in adam.args, arg
    assert adam.args["learning_rate"].default == pytest.approx(0.001)
    assert adam.var_kwargs is False
    he = catalog.lookup("initializer", "HeNormal")
    assert he is not None and "seed" in he.args
    assert catalog.lookup("initializer", "he_normal").name == "HeNormal"  # type: ignore[union-attr]
    assert catalog.lookup("callback", "EarlyStopping") is not None
    assert catalog.lookup("constraint", "MaxNorm") is not None
    assert catalog.lookup("metric", "AUC") is not None


def test_bare_bases_excluded() -> None:
    for kind, base in [("layer", "Layer"), ("optimizer", "Optimizer"), ("loss", "Loss"),
                       ("metric", "Metric"), ("callback", "Callback"),
                       ("initializer", "Initializer"), ("regularizer", "Regularizer"),
                       ("constraint", "Constraint"), ("schedule", "LearningRateSchedule")]:
        assert catalog.lookup(kind, base) is None, base


def test_unsafe_and_var_kwargs() -> None:
    for name in ("Lambda", "TFSMLayer"):
        info = catalog.lookup("layer", name)
        assert info is not None and info.unsafe, name
    assert not catalog.lookup("layer", "Dense").unsafe  # type: ignore[union-attr]
    # these really accept and ignore/stash arbitrary keyword arguments
    assert catalog.lookup("metric", "MeanMetricWrapper").var_kwargs  # type: ignore[union-attr]
    assert catalog.lookup("callback", "ReduceLROnPlateau").var_kwargs  # type: ignore[union-attr]
    # whereas the base Layer rejects unknown kwargs
    assert not catalog.lookup("layer", "Dense").var_kwargs  # type: ignore[union-attr]


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        catalog.lookup("layers", "Dense")
    with pytest.raises(ValueError):
        catalog.identifiers("optimizers")


def test_find_class() -> None:
    kinds = [info.kind for info in catalog.find_class("MeanSquaredError")]
    assert kinds == ["loss", "metric"]
    assert [i.kind for i in catalog.find_class("L2")] == ["regularizer"]
    assert [i.name for i in catalog.find_class("Convolution2D")] == ["Conv2D"]
    assert catalog.find_class("Nope") == []


def test_identifiers() -> None:
    assert catalog.is_identifier("optimizer", "adam")
    assert catalog.is_identifier("optimizer", "Adam")  # Keras lower-cases optimizer names
    assert catalog.is_identifier("optimizer", "RMSprop")
    assert not catalog.is_identifier("optimizer", "adma")
    assert catalog.is_identifier("loss", "mse")
    assert catalog.is_identifier("loss", "categorical_crossentropy")
    assert catalog.is_identifier("loss", "crossentropy")  # resolved by model.compile
    assert not catalog.is_identifier("loss", "Mse")  # losses are case-sensitive
    assert catalog.is_identifier("metric", "accuracy")
    assert catalog.is_identifier("metric", "acc")
    assert catalog.is_identifier("metric", "Accuracy")
    assert catalog.is_identifier("metric", "ACC")  # compile lower-cases accuracy/acc
    assert catalog.is_identifier("metric", "mae")
    assert not catalog.is_identifier("metric", "crossentropy")  # only losses get that special
    assert catalog.is_identifier("initializer", "he_normal")
    assert catalog.is_identifier("initializer", "HeNormal")
    assert not catalog.is_identifier("initializer", "HE_NORMAL")
    assert catalog.is_identifier("activation", "relu")
    assert not catalog.is_identifier("activation", "Relu")
    assert catalog.is_identifier("regularizer", "l2")
    assert not catalog.is_identifier("layer", "Dense")  # a class name, not an identifier
    assert not catalog.is_identifier("activation", 3)  # type: ignore[arg-type]
    assert "adam" in catalog.identifiers("optimizer")
    assert "relu" in catalog.identifiers("activation")
    assert "accuracy" in catalog.identifiers("metric") and "acc" in catalog.identifiers("metric")
    assert catalog.identifiers("activation") == sorted(catalog.identifiers("activation"))


@pytest.mark.parametrize(
    ("word", "kind", "expected"),
    [
        ("Dense2", "layer", "Dense"),
        ("Conv2d", "layer", "Conv2D"),
        ("adma", "optimizer", "adam"),
        ("rleu", "activation", "relu"),
        ("he_normall", "initializer", "he_normal"),
    ],
)
def test_suggest_names(word: str, kind: str, expected: str) -> None:
    candidates = catalog.class_names(kind) if kind == "layer" else catalog.identifiers(kind)
    assert catalog.suggest(word, candidates) == expected


def test_suggest_args_and_edge_cases() -> None:
    args = catalog.lookup("layer", "Conv2D").args  # type: ignore[union-attr]
    assert catalog.suggest("filter", args) == "filters"
    assert catalog.suggest("kernal_size", args) == "kernel_size"
    assert catalog.suggest("zzzzqqq", catalog.class_names("layer")) is None
    assert catalog.suggest("Dense", []) is None
    assert catalog.suggest("", ["a"]) is None
    assert catalog.suggest("mse", ["MSE", "mse"]) == "mse"
    assert catalog.suggest("MSE", ["MSE", "mse"]) == "MSE"


# ---------------------------------------------------------------------------------------------
# (3) TensorFlow-free
# ---------------------------------------------------------------------------------------------
def _run(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_does_not_load_tensorflow() -> None:
    out = _run(
        """
        import sys
        import kerun.spec.catalog as c
        c.lookup("layer", "Conv2D"); c.identifiers("optimizer"); c.find_class("L2")
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
        print(heavy)
        """
    )
    assert out.strip() == "[]"


def test_catalog_module_imports_nothing_heavy() -> None:
    # load catalog.py on its own (not through kerun.spec/__init__) and list what it imported
    out = _run(
        f"""
        import importlib.util, sys
        before = set(sys.modules)
        spec = importlib.util.spec_from_file_location("standalone_catalog", {str(CATALOG_PY)!r})
        mod = importlib.util.module_from_spec(spec)
        sys.modules["standalone_catalog"] = mod  # dataclasses look their module up there
        spec.loader.exec_module(mod)
        mod.lookup("layer", "Dense"); mod.is_identifier("metric", "acc")
        new = {{m.split(".")[0] for m in set(sys.modules) - before}} - {{"standalone_catalog"}}
        heavy = {{"tensorflow", "keras", "tf_keras", "numpy", "pandas", "jax", "torch"}}
        print(sorted(new & heavy))
        """
    )
    assert out.strip() == "[]"
