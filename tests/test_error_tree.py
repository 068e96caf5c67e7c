"""The one exception tree of kerun/errors.py, and Problem's round trip through a child's report."""

from __future__ import annotations

import json

import pytest

import kerun.errors as errors
from kerun.errors import KerunError, Location, Problem, format_path, parse_path


def test_every_kerun_exception_is_in_the_tree_and_drawn_in_its_docstring() -> None:
    classes = {name: obj for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, BaseException)}
    assert set(classes) == {"KerunError", "SpecError", "PluginError", "BuildError", "DataError", "InteropError", "RunError",
                            "Interrupted"}
    doc = errors.__doc__ or ""
    for name, cls in classes.items():
        assert issubclass(cls, KerunError)
        line = next(line for line in doc.splitlines() if f" {name} " in f" {line} ")
        assert f"exit {cls.exit_code}" in line or f"exit_code {cls.exit_code}" in line, line


def test_the_old_homes_re_export_the_same_classes() -> None:
    from kerun.interop import InteropError
    from kerun.run.train import Interrupted

    assert InteropError is errors.InteropError
    assert Interrupted is errors.Interrupted
    assert not hasattr(errors, "ProblemList")


@pytest.mark.parametrize("path", [(), ("model",), ("model", "layers", 2, "units"), ("data", "train", "columns", 0)])
def test_parse_path_inverts_format_path(path: tuple[str | int, ...]) -> None:
    assert parse_path(format_path(path)) == path


def test_problem_from_dict_reads_what_to_dict_wrote() -> None:
    exact = Problem("expected a list", Location("s.yaml", 4, 7), ("sweep", "space", "train.epochs"), "use [1, 2]")
    through_json = json.loads(json.dumps(exact.to_dict(parts=True)))
    assert Problem.from_dict(through_json) == exact
    # without path_parts the dotted path is parsed back: exact for names without dots
    plain = Problem("bad", Location("s.yaml", 1, None), ("model", "layers", 0, "units"))
    assert Problem.from_dict(plain.to_dict()) == plain
    assert Problem.from_dict({"message": "m", "file": None}) == Problem("m")
    assert "path_parts" not in plain.to_dict()
