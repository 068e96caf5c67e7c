"""``kerun import`` of model files edited or damaged by hand: a clear error naming what is wrong,
never a traceback (issue 20, point 13)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from kerun.errors import InteropError


@pytest.fixture(scope="module")
def configs() -> dict[str, Any]:
    import keras

    x = keras.Input((2,), name="x")
    functional = keras.Model(x, keras.layers.Dense(1, name="d")(x), name="f")
    sequential = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    return {"functional": json.loads(functional.to_json()), "sequential": json.loads(sequential.to_json())}


def _set(path: tuple, value: Any) -> Callable[[dict], None]:
    def edit(c: dict) -> None:
        node = c
        for part in path[:-1]:
            node = node[part]
        if value is KeyError:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return edit


CASES = {
    "a layer that is a number": ("functional", _set(("config", "layers", 1), 5), "layer 1 is not a mapping"),
    "a layer that is null": ("functional", _set(("config", "layers", 1), None), "layer 1 is not a mapping"),
    "a layer without class_name": ("functional", _set(("config", "layers", 1, "class_name"), KeyError), "layer 1 is not a mapping"),
    "a layer config that is a number": ("functional", _set(("config", "layers", 1, "config"), 5), "layer 1 is not a mapping"),
    "inbound nodes that are a number": ("functional", _set(("config", "layers", 1, "inbound_nodes"), 5), "inbound_nodes"),
    "an inbound node that is a number": ("functional", _set(("config", "layers", 1, "inbound_nodes"), [5]), "inbound node"),
    "input_layers that are a number": ("functional", _set(("config", "input_layers"), 5), "input_layers"),
    "an output naming no layer": ("functional", _set(("config", "output_layers"), [["nope", 0, 0]]), "'nope'"),
    "layers that are a mapping": ("functional", _set(("config", "layers"), {"a": 1}), "not a list"),
    "a Sequential layer that is a list": ("sequential", _set(("config", "layers", 1), [1]), "layer 1 is not a mapping"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_configs_are_clear_errors(configs: dict[str, Any], tmp_path: Path, case: str) -> None:
    from kerun.interop.importer import import_model

    kind, edit, words = CASES[case]
    config = copy.deepcopy(configs[kind])
    edit(config)
    (tmp_path / "m.json").write_text(json.dumps(config))
    with pytest.raises(InteropError) as err:
        import_model(tmp_path / "m.json", tmp_path / "m.yaml")
    assert "malformed" in err.value.message and words in err.value.message, err.value.message
    assert not (tmp_path / "m.yaml").exists()


def test_deeply_nested_and_odd_h5_configs(tmp_path: Path) -> None:
    import h5py

    from kerun.interop.importer import import_model

    deep = tmp_path / "deep.json"
    deep.write_text('{"class_name": "Functional", "config": ' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}")
    with pytest.raises(InteropError, match="nested too deeply"):
        import_model(deep, tmp_path / "deep.yaml")
    shallow_deep = tmp_path / "deep2.json"  # loads, but deeper than any model Keras writes
    shallow_deep.write_text('{"class_name": "Functional", "config": {"layers": [], "x": ' + "[" * 500 + "]" * 500 + "}}")
    with pytest.raises(InteropError, match="nested more than"):
        import_model(shallow_deep, tmp_path / "deep2.yaml")
    for name, value in (("array", "[1, 2]"), ("nokey", json.dumps({"class_name": "Functional"})), ("number", 5)):
        with h5py.File(tmp_path / f"{name}.h5", "w") as h5:
            h5.attrs["model_config"] = value
        with pytest.raises(InteropError):
            import_model(tmp_path / f"{name}.h5", tmp_path / f"{name}.yaml")
