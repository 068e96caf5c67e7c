"""The ``kerun`` command line: parse, call, render.

Commands that need TensorFlow import it inside their function, so ``kerun --help``,
``kerun validate`` and ``kerun schema`` start in a fraction of a second.
"""

from __future__ import annotations

import functools
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import typer

from kerun.errors import KerunError, Problem, SpecError

app = typer.Typer(
    name="kerun",
    help="Declarative model-and-training runner for tf.keras: check, build, train, evaluate and predict from a YAML spec.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])


class Format(str, Enum):
    text = "text"
    json = "json"
    github = "github"


def _err(text: str) -> None:
    sys.stderr.write(text + ("\n" if not text.endswith("\n") else ""))
    sys.stderr.flush()


def render_problems(problems: list[Problem], fmt: Format) -> str:
    if fmt is Format.github:
        return "\n".join(p.render_github() for p in problems)
    return "\n".join(p.render() for p in problems)


def reports_errors(func: F) -> F:
    """Turn a :class:`KerunError` into its message and exit code; anything else is a bug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KerunError as exc:
            if kwargs.get("json_out"):
                print(exc.to_json())
            else:
                _err(exc.render())
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def expand_specs(paths: list[Path]) -> list[Path]:
    """Files as given; folders become the ``*.yaml`` / ``*.yml`` files below them, sorted."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file()))
        else:
            out.append(p)
    return out


SetOption = typer.Option(None, "--set", metavar="PATH=VALUE", help="Change one value before checking, e.g. --set train.epochs=3 (repeatable).")


@app.command()
def validate(
    specs: list[Path] = typer.Argument(..., help="Spec files or folders of specs."),
    overrides: Optional[list[str]] = SetOption,
    fmt: Format = typer.Option(Format.text, "--format", help="text, json (for tools) or github (CI annotations)."),
) -> None:
    """Check specs completely, without TensorFlow: every problem, by file and line."""
    from kerun.spec import load_spec

    files = expand_specs(specs)
    results: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for file in files:
        try:
            load_spec(file, overrides or [])
            results.append({"file": str(file), "valid": True, "problems": []})
        except SpecError as exc:
            problems.extend(exc.problems)
            results.append({"file": str(file), "valid": False, "problems": [p.to_dict() for p in exc.problems]})
    invalid = sum(1 for r in results if not r["valid"])
    if fmt is Format.json:
        print(json.dumps({"valid": invalid == 0, "specs": results}, indent=2))
    else:
        if problems:
            print(render_problems(problems, fmt))
        if fmt is Format.text:
            summary = f"{len(files) - invalid} of {len(files)} spec{'s' if len(files) != 1 else ''} valid"
            (_err if invalid else print)(summary if invalid else f"ok: {summary}")
    raise typer.Exit(2 if invalid else 0)


@app.command()
def schema(
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to this file instead of standard output."),
) -> None:
    """Print the JSON Schema of the spec format (layer types and arguments included) for editors."""
    from kerun.spec.schema import json_schema

    text = json.dumps(json_schema(), indent=1, sort_keys=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)


@app.command()
@reports_errors
def explain(
    spec: Path = typer.Argument(..., help="A spec file."),
    overrides: Optional[list[str]] = SetOption,
) -> None:
    """Print the spec with every default filled in, as it will run."""
    from kerun.spec import dump_yaml, load_spec
    from kerun.spec.explain import explained

    loaded = load_spec(spec, overrides or [])
    print(dump_yaml(explained(loaded)), end="")


def main() -> None:
    app()
