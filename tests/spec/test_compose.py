"""Spec format 1.1, ``extends:`` and ``set:`` (docs/SPEC.md, "Version 1.1"): one test per rule.

The error cases with their exact messages are golden files in tests/spec/invalid/ (extends_*.yaml,
set_names_nothing.yaml, with their bases in invalid/bases/).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kerun.errors import SpecError
from kerun.spec import load_spec
from kerun_testing import SPECS

BASE = """\
name: base
seed: 0
data:
  train: {type: sklearn, name: iris}
  validation: {split: 0.2}
model:
  inputs: {features: [4]}
  layers:
    - {type: Dense, units: 8, name: hidden}
    - {type: Dense, units: 3, activation: softmax, name: out}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy, mae]
train: {epochs: 4, batch_size: 16}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_is_iris_mlp_with_three_values_changed() -> None:
    wide, base = load_spec(SPECS / "iris_wide.yaml"), load_spec(SPECS / "iris_mlp.yaml")
    assert "extends" not in wide.data and "set" not in wide.data
    assert wide.data["model"]["layers"][1]["units"] == 64
    assert wide.data["compile"]["optimizer"] == {"type": "Adam", "learning_rate": 0.003}
    assert wide.data["train"] == {"epochs": 50, "batch_size": 16}  # merged, batch_size kept
    assert wide.name == "iris-wide"
    changed = {k for k in base.data if base.data[k] != wide.data[k]}
    assert changed == {"name", "model", "compile", "train"}


def test_order_bases_own_keys_set_then_command_line(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", "extends: base.yaml\ntrain: {epochs: 5}\nset: {train.batch_size: 8}\n")
    loaded = load_spec(child)
    assert loaded.spec.train.epochs == 5 and loaded.spec.train.batch_size == 8
    write(tmp_path, "both.yaml", "extends: base.yaml\ntrain: {epochs: 5}\nset: {train.epochs: 6}\n")
    assert load_spec(tmp_path / "both.yaml").spec.train.epochs == 6  # set: over own keys
    assert load_spec(tmp_path / "both.yaml", ["train.epochs=7"]).spec.train.epochs == 7  # --set last


def test_later_bases_override_earlier_ones(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    write(tmp_path, "fast.yaml", "train: {epochs: 1}\ncompile: {optimizer: {learning_rate: 0.1}}\n")
    write(tmp_path, "slow.yaml", "train: {epochs: 9}\n")
    loaded = load_spec(write(tmp_path, "c.yaml", "extends: [base.yaml, fast.yaml, slow.yaml]\n"))
    assert loaded.spec.train.epochs == 9
    assert loaded.data["compile"]["optimizer"] == {"type": "Adam", "learning_rate": 0.1}
    loaded = load_spec(write(tmp_path, "d.yaml", "extends: [base.yaml, slow.yaml, fast.yaml]\n"))
    assert loaded.spec.train.epochs == 1


def test_mappings_merge_lists_and_scalars_replace(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    loaded = load_spec(write(tmp_path, "c.yaml", "extends: base.yaml\ncompile: {metrics: [accuracy]}\n"
                                                 "model: {layers: [{type: Dense, units: 3, activation: softmax}]}\n"))
    assert loaded.data["compile"]["metrics"] == ["accuracy"]  # not [accuracy, mae, accuracy]
    assert len(loaded.data["model"]["layers"]) == 1  # the list replaced, not appended to
    assert loaded.data["model"]["inputs"] == {"features": [4]}  # the mapping merged
    assert loaded.data["compile"]["loss"] == "sparse_categorical_crossentropy"


def test_set_without_extends_changes_the_spec_itself(tmp_path: Path) -> None:
    text = BASE + "set: {model.layers.hidden.units: 5, model.layers.1.activation: sigmoid}\n"
    loaded = load_spec(write(tmp_path, "s.yaml", text))
    assert [e["units"] for e in loaded.data["model"]["layers"]] == [5, 3]
    assert loaded.data["model"]["layers"][1]["activation"] == "sigmoid"
    loc = loaded.doc.locate(("model", "layers", 0, "units"))
    assert (loc.file, loc.line) == (str(tmp_path / "s.yaml"), BASE.count("\n") + 1)


def test_a_value_is_located_in_the_file_that_wrote_it(tmp_path: Path) -> None:
    write(tmp_path, "bases/base.yaml", BASE)
    write(tmp_path, "bases/mid.yaml", "extends: base.yaml\ntrain: {epochs: 2}\n")
    child = write(tmp_path, "child.yaml", "extends: bases/mid.yaml\nname: child\nset: {model.layers.out.units: 3}\n")
    doc = load_spec(child).doc
    units = doc.locate(("model", "layers", 0, "units"))
    assert units.file.endswith("bases/base.yaml") and units.line == 9
    assert units.note == f"inherited: extended by {tmp_path}/bases/mid.yaml:1:10, then by {child}:1:10"
    epochs = doc.locate(("train", "epochs"))
    assert epochs.file.endswith("bases/mid.yaml") and epochs.note == f"inherited: extended by {child}:1:10"
    out = doc.locate(("model", "layers", 1, "units"))
    assert (out.file, out.line, out.note) == (str(child), 3, None)
    assert doc.locate(("name",)).file == str(child)


def test_a_problem_in_a_base_names_the_base_and_the_spec_that_extended_it(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE.replace("units: 8", "units: 0"))
    child = write(tmp_path, "child.yaml", "extends: base.yaml\n")
    with pytest.raises(SpecError) as err:
        load_spec(child)
    text = err.value.render()
    assert text.startswith(f"{tmp_path / 'base.yaml'}:9:28: model.layers[0].units: expected a positive integer")
    assert f"inherited: extended by {child}:1:10" in text


def test_yaml_errors_in_a_base_name_the_extending_spec(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "model: {inputs: [\n")
    child = write(tmp_path, "child.yaml", "extends: base.yaml\n")
    with pytest.raises(SpecError) as err:
        load_spec(child)
    assert err.value.location.file == str(tmp_path / "base.yaml")
    assert err.value.location.note == f"inherited: extended by {child}:1:10"


def test_a_two_level_chain_reads_the_csv_next_to_its_base_and_its_run_trains_again(tmp_path: Path) -> None:
    from kerun.run.train import TrainOptions, train, train_file

    base_dir = tmp_path / "team" / "base"
    rows = "\n".join(f"{i % 7 / 7:.3f},{i % 5 / 5:.3f},{i % 2}" for i in range(40))
    write(base_dir, "data/table.csv", "a,b,y\n" + rows + "\n")
    write(base_dir, "base.yaml", "seed: 0\ndata:\n  train: {type: csv, path: data/table.csv, label: y}\n"
                                 "model:\n  inputs: {features: [2]}\n  layers: [{type: Dense, units: 2, activation: softmax}]\n"
                                 "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n"
                                 "train: {epochs: 1, batch_size: 8}\n")
    write(tmp_path / "team", "mid.yaml", "extends: base/base.yaml\ntrain: {batch_size: 4}\n")
    child = write(tmp_path / "mine", "child.yaml", "extends: ../team/mid.yaml\nname: chain\n")
    loaded = load_spec(child)
    assert loaded.data["data"]["train"]["path"] == str(base_dir / "data" / "table.csv")
    result = train(loaded, TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert result.status == "completed"
    saved = (result.run_dir / "spec.yaml").read_text(encoding="utf-8")
    assert "extends" not in saved and str(base_dir / "data" / "table.csv") in saved
    # the run folder's spec.yaml is self-contained: it trains again from another folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    old = os.getcwd()
    os.chdir(elsewhere)
    try:
        again = train_file(result.run_dir / "spec.yaml", [], TrainOptions(runs_dir=tmp_path / "runs2", progress="quiet"))
    finally:
        os.chdir(old)
    assert again.status == "completed"


def test_a_spec_without_extends_is_read_as_before(tmp_path: Path) -> None:
    loaded = load_spec(write(tmp_path, "plain.yaml", BASE))
    assert loaded.composed is None and loaded.data is loaded.doc.data
    assert all(loc.note is None for loc in loaded.doc.values.values())


def test_the_readme_section_shows_the_real_examples_and_message() -> None:
    import re

    from kerun_testing import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Composing specs and blocks"):]
    section = section[: section.index("\n### ", 5)]
    yaml_blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    text_blocks = re.findall(r"```text\n(.*?)```", section, flags=re.S)
    assert len(yaml_blocks) == 2 and len(text_blocks) == 1
    for shown, spec in zip(yaml_blocks, ("iris_wide.yaml", "xception_blocks.yaml")):
        lines = [line.split("#")[0].rstrip() for line in (SPECS / spec).read_text(encoding="utf-8").splitlines()]
        for line in shown.splitlines():
            assert line.split("  #")[0].rstrip() in lines, line
    expected = (ROOT / "tests" / "spec" / "invalid" / "extends_inherited_error.expected").read_text(encoding="utf-8")
    assert text_blocks[0] == expected


def test_explain_origins_names_the_file_and_line_of_every_value() -> None:
    from kerun_testing import ROOT, invoke_in

    result = invoke_in(ROOT, ["explain", "specs/iris_wide.yaml", "--origins", "--set", "train.epochs=3"])
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "units: 64 # specs/iris_wide.yaml:5:30" in lines  # set:
    assert "name: hidden # specs/iris_mlp.yaml:14:38" in lines  # the base
    assert "epochs: 3 # --set train.epochs=3" in lines
    assert "batch_size: 16 # specs/iris_mlp.yaml:23:15" in lines
    plain = invoke_in(ROOT, ["explain", "specs/iris_wide.yaml"]).stdout
    assert "#" not in plain and "units: 64" in plain
