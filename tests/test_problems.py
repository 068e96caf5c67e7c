"""kerun.spec.problems: pydantic's union tags never reach a message; a union's alternatives merge by error type."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerun_testing import SPECS
from kerun.errors import SpecError
from kerun.spec import load_spec


def problems_of(tmp_path: Path, text: str) -> list[str]:
    spec = tmp_path / "s.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    return [p.render().replace(str(spec), "s.yaml") for p in err.value.problems]


SWEEP = (SPECS / "iris_sweep.yaml").read_text()


def test_sweep_space_errors_name_the_path_written_not_pydantic_tags(tmp_path: Path) -> None:
    text = SWEEP.replace("model.layers.hidden.units: [8, 16, 32, 64]",
                         'train.epochs: {range: [1, 5], stepp: 2}\n    train.batch_size: {uniform: "a"}')
    assert text != SWEEP
    found = problems_of(tmp_path, text)
    assert found == [
        "s.yaml:26:20: sweep.space.train.epochs.range: unknown key 'range'\n  allowed keys: choice, int, log_uniform, uniform",
        "s.yaml:26:35: sweep.space.train.epochs.stepp: unknown key 'stepp'\n  allowed keys: choice, int, log_uniform, uniform",
        "s.yaml:27:33: sweep.space.train.batch_size.uniform: expected a list, got 'a'",
    ]
    # the list alternative is not reported when the mapping alternative got inside the value
    assert not any("RangeSpec" in p or "list[" in p or "expected a list, got a mapping" in p for p in found)


def test_alternatives_that_all_refuse_the_value_are_said_once(tmp_path: Path) -> None:
    text = SWEEP.replace("  loss: categorical_crossentropy\n", "  loss: categorical_crossentropy\n  jit_compile: sometimes\n")
    assert problems_of(tmp_path, text) == [
        "s.yaml:16:16: compile.jit_compile: expected true or false or one of 'auto', got 'sometimes'\n"
        "  write true or false; kerun reads YAML 1.2, where yes/no/on/off are strings"]


def test_the_merge_reads_no_message_text() -> None:
    import inspect

    import kerun.spec.problems as problems

    source = inspect.getsource(problems._merge_alternatives)
    assert "re." not in source and "expected (" not in source
