"""``kerun schema`` catches statically what ``kerun validate`` catches (checked here in-process with
the ``jsonschema`` library; tests/lsp/ checks the same through the real YAML language server)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import yaml

from kerun.errors import SpecError
from kerun.spec import catalog, load_spec
from kerun.spec.schema import json_schema
from kerun_testing import ALL_SPECS

ROOT = Path(__file__).resolve().parents[2]
LSP = ROOT / "tests" / "lsp"
# every spec below specs/ (the keras.io translations too), and the language server's valid ones
EXAMPLES = ALL_SPECS + sorted((LSP / "valid").glob("*.yaml"))
MISTAKES = sorted((LSP / "mistakes").glob("*.yaml"))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json_schema()


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _branch(schema: dict[str, Any], definition: str, name: str) -> dict[str, Any]:
    for b in schema["$defs"][definition]["allOf"]:
        test = b["if"]["properties"]["type"]
        if test.get("const") == name or re.fullmatch(test.get("pattern", "^$"), name):
            return b["then"]
    raise AssertionError(f"no branch for {name} in {definition}")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_have_no_schema_error(path: Path, schema: dict[str, Any], validator: Any) -> None:
    load_spec(path)  # valid for kerun
    document = yaml.safe_load(path.read_text())
    missing = sorted(set(document) & {"extends", "set", "blocks"} - set(schema["properties"]))
    if missing:  # the engineer adding format 1.1 adds these keys to the schema
        pytest.xfail(f"format 1.1 keys {missing} are not in the schema yet")
    errors = [f"{list(e.absolute_path)}: {e.message[:120]}" for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize("path", MISTAKES, ids=lambda p: p.stem)
def test_each_mistake_is_flagged_where_validate_flags_it(path: Path, validator: Any) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    wanted = caught.value.problems[0].path
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
    assert errors, "the schema accepts what kerun validate refuses"

    def leaves(error: Any) -> Iterator[tuple[Any, ...]]:  # anyOf/allOf failures hold the precise ones
        yield tuple(error.absolute_path)
        for sub in error.context or ():
            yield from leaves(sub)

    paths = {p for e in errors for p in leaves(e)}
    # the schema points at the value, or (unknown and missing arguments) at the mapping holding it
    assert any(p == wanted or p == wanted[:-1] for p in paths), (wanted, sorted(paths, key=len)[-5:])


def test_refused_classes_are_left_out(schema: dict[str, Any]) -> None:
    layer_type = schema["$defs"]["LayerSpec"]["properties"]["type"]["anyOf"][0]
    offered = layer_type["anyOf"][0]["enum"]
    assert "Dense" in offered and "Convolution2D" in offered  # aliases too
    for refused in ("Lambda", "TorchModuleWrapper", "TFSMLayer", "JaxLayer", "FlaxLayer"):
        assert refused not in offered
        assert not re.fullmatch(layer_type["pattern"], refused)
    callbacks = schema["$defs"]["keras.callback.mapping"]["properties"]["type"]["anyOf"][0]["enum"]
    assert "EarlyStopping" in callbacks and "LambdaCallback" not in callbacks


@pytest.mark.parametrize("kind", ["layer", "optimizer", "loss", "callback", "initializer", "regularizer", "schedule", "constraint"])
def test_every_class_forbids_unknown_arguments_and_describes_its_own(schema: dict[str, Any], kind: str) -> None:
    definition = "LayerSpec" if kind == "layer" else f"keras.{kind}.mapping"
    checked = 0
    for info in catalog.__dict__["_classes"](kind).values():
        if info.unsafe:
            continue
        then = _branch(schema, definition, info.name)
        assert then.get("additionalProperties") is (None if info.var_kwargs else False), info.name
        keys = {"type", "name", "use", "inputs"} if kind == "layer" else {"type"}
        assert set(then["properties"]) == set(info.args) | keys, info.name
        for arg in info.args.values():
            if arg.doc and arg.name not in keys:
                assert then["properties"][arg.name]["description"] == arg.doc
        checked += 1
    assert checked > 0


def test_descriptions_come_from_keras_docstrings(schema: dict[str, Any]) -> None:
    dense = _branch(schema, "LayerSpec", "Dense")
    assert dense["properties"]["units"]["description"].startswith("Positive integer, dimensionality of the output space")
    assert dense["properties"]["type"]["description"] == "Dense: Just your regular densely-connected NN layer."
    patience = _branch(schema, "keras.callback.mapping", "EarlyStopping")["properties"]["patience"]
    assert "epochs with no improvement" in patience["description"]
    # short: a hover, not the manual
    texts = [n["description"] for n in _walk(schema) if isinstance(n.get("description"), str)]
    assert max(len(t) for t in texts) <= 300


def test_arguments_are_typed_where_validate_types_them(validator: Any) -> None:
    def errors(layer: dict[str, Any]) -> list[str]:
        spec = {"model": {"inputs": {"x": [4]}, "layers": [layer]}}
        return [e.message for e in validator.iter_errors(spec)]

    assert errors({"type": "Dense", "units": 3, "use_bias": False, "activation": "relu"}) == []
    assert errors({"type": "Dense", "units": "many"})
    assert errors({"type": "Dense", "units": 0})
    assert errors({"type": "Dense", "units": 3, "use_bias": "yes please"})
    assert errors({"type": "Dropout", "rate": "high"}) and errors({"type": "Dropout", "rate": 1.0})
    assert errors({"type": "GaussianNoise", "stddev": 0.5}) == []
    assert errors({"type": "Conv1D", "filters": 2, "kernel_size": [3]}) == []
    assert errors({"type": "Conv1D", "filters": 2, "kernel_size": [0]})
    assert errors({"type": "Dense", "units": 3, "kernel_initializer": {"type": "GlorotUniform", "seed": 1}}) == []
    assert errors({"type": "Dense", "units": 3, "kernel_initializer": {"type": "GlorotUniform", "sed": 1}})


def test_case_rules_are_keras_own(validator: Any) -> None:
    def errors(compile_: dict[str, Any]) -> list[str]:
        spec = {"model": {"inputs": {"x": [4]}, "layers": [{"type": "Dense", "units": 1}]}, "compile": compile_}
        return [e.message for e in validator.iter_errors(spec)]

    assert errors({"optimizer": "ADAM", "loss": "MSE" if catalog.is_identifier("loss", "MSE") else "mse"}) == []
    assert errors({"optimizer": "adam", "loss": "CE", "metrics": ["ACC", "Accuracy"]}) == []
    assert errors({"optimizer": {"type": "adam"}})  # class names are case-sensitive
    assert errors({"optimizer": "adam", "loss": "Mse"}) != [] or catalog.is_identifier("loss", "Mse")


def test_names_kerun_cannot_know_pass_only_when_the_spec_can_define_them(validator: Any) -> None:
    model = {"inputs": {"x": [4]}, "layers": [{"type": "MyLayer", "units": 3}, {"type": "Dense", "units": 1, "activation": "my_act"}]}
    assert list(validator.iter_errors({"model": model}))
    assert list(validator.iter_errors({"plugins": ["mine.py"], "model": model})) == []
    sub = {"inputs": {"x": [4]}, "layers": [{"type": "Dense", "units": 2}]}
    assert list(validator.iter_errors({"models": {"MyLayer": sub}, "model": {**model, "layers": model["layers"][:1]}})) == []
    # a Keras class is still checked in the open variant
    bad = {"inputs": {"x": [4]}, "layers": [{"type": "Dense", "unit": 3}]}
    assert list(validator.iter_errors({"plugins": ["mine.py"], "model": bad}))


def test_hover_stays_short(schema: dict[str, Any]) -> None:
    """yaml-language-server lists every ``enum`` that matched a value in its hover ("Allowed
    Values"); big enums may only sit in alternatives that can never match (maxLength 0)."""
    for node in _walk(schema):
        if len(node.get("enum", ())) > 20:  # small Literal choices (dtype) may show
            assert node.get("maxLength") == 0, node["enum"][:5]


def test_generator_reads_google_style_args() -> None:
    spec = importlib.util.spec_from_file_location("gen_catalog_for_schema", ROOT / "tools" / "gen_catalog.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    doc = """Does a thing.

    Args:
        units: Positive integer, the size.
            Goes on here. And a third sentence that is cut.
        rate: Float.

    Returns:
        nothing: not an argument.
    """
    assert gen.docstring_args(doc) == {"units": "Positive integer, the size. Goes on here.", "rate": "Float."}


def test_schema_command_writes_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kerun.cli import app

    out = tmp_path / "kerun.schema.json"
    result = CliRunner().invoke(app, ["schema", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["$id"].startswith("https://kerun.dev/schema/")


def test_the_printed_schema_is_the_same_in_every_process() -> None:
    # editors cache it and CI diffs it: string hashing, which differs between processes, must not order it
    import os
    import subprocess
    import sys

    printed = {subprocess.run([sys.executable, "-m", "kerun", "schema"], capture_output=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(printed) == 1 and len(next(iter(printed))) > 100_000
