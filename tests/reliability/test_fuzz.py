"""Property-based fuzzing of the loader and validation: every input ends in a valid spec or a
SpecError (exit 0 or 2), never another exception, and quickly.

The regular suite runs a short budget; a long run by hand:
    KERUN_FUZZ_EXAMPLES=20000 python -m pytest tests/reliability/test_fuzz.py -q -s
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from kerun_testing import EXAMPLES
from kerun.errors import SpecError
from kerun.spec import dump_yaml, spec_from_text

EXAMPLES_BUDGET = int(os.environ.get("KERUN_FUZZ_EXAMPLES", "120"))
SETTINGS = settings(max_examples=EXAMPLES_BUDGET, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
SPEC_DATA = [yaml.safe_load(p.read_text()) for p in EXAMPLES]
SPEC_DIR = EXAMPLES[0].parent
COUNTS = {"valid": 0, "invalid": 0}
SLOWEST = [0.0]
HANG_SECONDS = float(os.environ.get("KERUN_FUZZ_SECONDS", "30"))


def outcome(text: str | bytes) -> str:
    """'valid' or 'invalid'; any other exception fails the test (a traceback to a user)."""
    t0 = time.perf_counter()
    try:
        if isinstance(text, bytes):
            from kerun.spec.loader import parse_document

            parse_document(text, str(SPEC_DIR / "fuzz.yaml"))
            result = "valid"
        else:
            spec_from_text(text, file=str(SPEC_DIR / "fuzz.yaml"))
            result = "valid"
    except SpecError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        assert exc.exit_code == 2
        exc.render()
        exc.to_json()
        result = "invalid"
    # generous: a shared, loaded machine stalls now and then; a real blow-up takes minutes (the
    # long run by hand sets KERUN_FUZZ_SECONDS=2)
    elapsed = time.perf_counter() - t0
    assert elapsed < HANG_SECONDS, f"one document took {elapsed:.1f} s"
    COUNTS[result] += 1
    SLOWEST[0] = max(SLOWEST[0], elapsed)
    return result


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["Dense", "relu", "adam", "mse", "1e-4", "no", "~", "x", "model", "layers", "type", "use", "inputs"]),
)
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), children, max_size=5)),
    max_leaves=30)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["name", "seed", "data", "model", "models", "compile", "train", "sweep", "plugins", "distribute", "extra"]), values, max_size=8))
def test_random_documents(doc: dict[str, Any]) -> None:
    outcome(yaml.safe_dump(doc, allow_unicode=True))


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    outcome(data)


@SETTINGS
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    outcome(text)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, prefix + (i,)))
    return out


def _mutate(data: Any, path: tuple, how: str, value: Any) -> Any:
    data = copy.deepcopy(data)
    if not path:
        return value if how == "retype" else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    if how == "drop":
        del parent[key]
    elif how == "rename" and isinstance(parent, dict):
        parent[f"{key}x" if isinstance(key, str) else key + 1] = parent.pop(key)
    elif how == "retype":
        parent[key] = value
    elif how == "swap":
        old = parent[key]
        parent[key] = list(old.values()) if isinstance(old, dict) else {str(i): v for i, v in enumerate(old)} if isinstance(old, list) else [old]
    elif how == "nest":
        parent[key] = [[[[[[[[parent[key]]]]]]]]]
    return data


@SETTINGS
@given(st.data())
def test_mutated_examples(data: st.DataObject) -> None:
    spec = data.draw(st.sampled_from(SPEC_DATA))
    path = data.draw(st.sampled_from(_paths(spec)))
    how = data.draw(st.sampled_from(["drop", "rename", "retype", "swap", "nest"]))
    value = data.draw(st.one_of(scalars, st.sampled_from([10**400 if False else 10**40, -1, 0, 1e308, "\u202e\u0000x", "💥" * 50, [], {}])))
    mutated = _mutate(spec, path, how, value)
    outcome(dump_yaml(mutated) if isinstance(mutated, dict) else yaml.safe_dump(mutated))


# Hostile strings where kerun turns text into paths, format fields and names (issue 20).
hostile_paths = st.one_of(
    st.sampled_from(["../x", "../../etc/passwd", "/etc/passwd", "/dev/zero", "~/x", "a/../../b", "C:\\x", "\\\\srv\\x",
                     "x" * 5000, "a\x00b", "\udcff", "{epoch!s:.>2.0}/{epoch!s:.>2.0}/x", "{epoch.__class__}", "{0}", "{}",
                     "{epoch:{x}}", "{epoch:.<99}", "{", "}", "{{epoch}}", "{val_loss:02d}", "{epoch:%}", "./", ".", ""]),
    st.text(alphabet=st.sampled_from(list("{}:!.<>^=/\\0123456789srdfeg%_ax")), max_size=40),
)
names = st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=True),
                  st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
PATH_CALLBACKS = [("ModelCheckpoint", "filepath"), ("TensorBoard", "log_dir"), ("CSVLogger", "filename"),
                  ("BackupAndRestore", "backup_dir"), ("OrbaxCheckpoint", "directory")]
TINY = {"model": {"inputs": {"x": [2]}, "layers": [{"type": "Dense", "units": 1, "name": "out"}]}, "compile": {"loss": "mse"}}


@SETTINGS
@given(st.sampled_from(PATH_CALLBACKS), hostile_paths)
def test_hostile_callback_paths(callback: tuple[str, str], path: str) -> None:
    doc = copy.deepcopy(TINY)
    doc["train"] = {"callbacks": [{"type": callback[0], callback[1]: path}]}
    if outcome(yaml.safe_dump(doc, allow_unicode=True)) == "valid":  # then it stays in the run folder
        if callback[0] != "ModelCheckpoint":  # the path as written is the path written
            assert ".." not in Path(path).parts and not Path(path).is_absolute() and not path.startswith("~")
        else:  # what Keras makes of it, with numbers filled in
            logs = {k: 0.5 for k in ("loss", "val_loss", "mae", "accuracy")}
            try:
                formatted = path.format(epoch=1, batch=1, **logs)
            except (KeyError, ValueError, IndexError):
                return  # a metric the model does not log: the run says so (AtomicModelCheckpoint)
            assert ".." not in Path(formatted).parts and not Path(formatted).is_absolute()


@SETTINGS
@given(hostile_paths, st.sampled_from(["data.train.path", "plugins", "train.initial_weights", "data.vocabulary"]))
def test_hostile_paths_in_the_spec(path: str, where: str) -> None:
    doc = copy.deepcopy(TINY)
    if where == "plugins":
        doc["plugins"] = [path]
    elif where == "data.train.path":
        doc["data"] = {"train": {"type": "csv", "path": path}}
    elif where == "train.initial_weights":
        doc["train"] = {"initial_weights": path}
    else:
        doc["model"]["layers"].insert(0, {"type": "StringLookup", "vocabulary": path})
    outcome(yaml.safe_dump(doc, allow_unicode=True))


@SETTINGS
@given(names, st.sampled_from(["model.layers.out.units=3", "model.layers.0.units=2", "model.layers.x.name=y"]))
def test_non_string_names_and_overrides(name: Any, override: str) -> None:
    doc = copy.deepcopy(TINY)
    doc["model"]["layers"][0]["name"] = name
    t0 = time.perf_counter()
    try:
        spec_from_text(yaml.safe_dump(doc, allow_unicode=True), file=str(SPEC_DIR / "fuzz.yaml"), overrides=[override])
        COUNTS["valid"] += 1
    except SpecError as exc:
        assert exc.problems and exc.exit_code == 2
        exc.render()
        COUNTS["invalid"] += 1
    assert time.perf_counter() - t0 < HANG_SECONDS


def test_deep_nesting_and_huge_numbers_stay_fast() -> None:
    assert outcome("model: " + "[" * 5000 + "]" * 5000) == "invalid"
    assert outcome("seed: " + "9" * 5000 + "\nmodel: {inputs: {x: [1]}, layers: [{type: Dense, units: 1}]}") in ("valid", "invalid")
    assert outcome("model: {inputs: {x: [1]}, layers: [{type: Dense, units: " + "9" * 400 + "}]}") == "invalid"


def test_report_counts() -> None:
    # printed with -s; the long run's total goes into the closing note of the reliability issue
    print(f"fuzz cases: {COUNTS}, slowest {SLOWEST[0]:.3f} s")


def test_nothing_was_written_beside_the_specs() -> None:
    # validation writes nothing: no file appeared next to the specs the fuzz cases pretend to be
    assert not [p for p in SPEC_DIR.iterdir() if p.name.startswith("fuzz")]
