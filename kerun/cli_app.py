"""The Typer app of the command line, its one error handler, and how a command is declared.

:class:`KerunGroup` is click's single ``Command.main`` handler for every command: a
:class:`~kerun.errors.KerunError` is printed (as JSON after ``--json`` or ``--format json``) and exits
with its code; anything else is a bug in kerun and keeps its traceback. No command can bypass it:
commands are declared with :func:`command`, on this app, which also records the ones that need
TensorFlow. The commands themselves are in :mod:`kerun.cli`.
"""

from __future__ import annotations

import copy
import sys
from typing import Any, Callable, Optional

import typer
from typer.core import TyperGroup

from kerun.cli_plain import err, report_error
from kerun.errors import KerunError

__all__ = ["JsonOption", "KerunGroup", "TENSORFLOW_COMMANDS", "app", "app_for", "command", "err", "json_wanted"]

JSON_WANTED = "kerun.json"
"""Key of click's ``ctx.meta`` (shared by a command's context and its group's): the command was
asked for JSON, so an error is printed as JSON too."""


class KerunGroup(TyperGroup):
    """The one error handler of every kerun command."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KerunError as exc:
            origin = _plugin_origin(exc)
            if origin:
                exc.raised_in(origin)
            _report(ctx, exc)
        except Exception as exc:
            origin = _plugin_origin(exc)
            if origin is None:  # a bug in kerun's own code: it keeps its traceback
                raise
            _report(ctx, _plugin_error(exc, origin))


def _report(ctx: Any, exc: KerunError) -> None:
    raise typer.Exit(report_error(exc, as_json=bool(ctx.meta.get(JSON_WANTED)))) from None


def _plugin_origin(exc: BaseException) -> str | None:
    """Where plugin code raised ``exc`` (kerun.model.plugins), when plugins were imported at all:
    the handler never imports TensorFlow itself."""
    plugins = sys.modules.get("kerun.model.plugins")
    return plugins.plugin_origin(exc) if plugins is not None else None


def _plugin_error(exc: BaseException, origin: str) -> KerunError:
    """An error raised inside a plugin's own code, named by its file, line and function."""
    import re

    from kerun.errors import PluginError

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if text.startswith("Exception encountered when calling"):  # Keras's wrapping of a layer's call
        text = text.split("\n", 1)[-1].strip()
    text = text.split("\nArguments received by", 1)[0].strip().splitlines()
    saved = next((n.split("the traceback is saved in ", 1)[1] for n in getattr(exc, "__notes__", [])
                  if "the traceback is saved in " in n), None)
    return PluginError(f"{origin}: {type(exc).__name__}: {text[0] if text else ''}".rstrip(": "),
                       hint="the error is in the plugin's own code" + (f"; its traceback is saved in {saved}" if saved else ""))


app = typer.Typer(
    name="kerun",
    help="Declarative model-and-training runner for tf.keras: check, build, train, evaluate and predict from a YAML spec.",
    cls=KerunGroup,
    no_args_is_help=True,
    add_completion=True,  # Typer's own --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def version_text() -> str:
    """kerun's version and those of what it runs on, read from the installed packages' metadata
    (TensorFlow is not imported: ``kerun --version`` answers at once)."""
    import platform
    from importlib import metadata

    from kerun import __version__

    parts = [f"kerun {__version__}"]
    for dist, label in (("tensorflow", "TensorFlow"), ("keras", "Keras")):
        try:
            parts.append(f"{label} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{label} not installed")
    return ", ".join(parts) + f" (Python {platform.python_version()})"


def _version(value: bool) -> None:
    if value:
        print(version_text())
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Print kerun's version and TensorFlow's and Keras's, and exit."),
) -> None:
    """Declarative model-and-training runner for tf.keras: check, build, train, evaluate and predict from a YAML spec."""

TENSORFLOW_COMMANDS: set[str] = set()
"""The commands declared with ``command(tensorflow=True)``: :func:`main` quiets TensorFlow's native
start-up lines for them before anything is imported."""


def command(name: Optional[str] = None, *, tensorflow: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a kerun command; ``tensorflow=True`` when it imports TensorFlow."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if tensorflow:
            TENSORFLOW_COMMANDS.add(name or func.__name__)
        return app.command(name)(func)

    return register


def app_for(name: Optional[str]) -> typer.Typer:
    """The app as it is needed for ``kerun NAME ...``: when NAME is one of the commands, the app with
    that command alone, else the whole app.

    Typer makes click's group from every command's signature before it parses a word (16 commands:
    about 10 ms of each start-up, a tenth of ``kerun validate``'s own time). The group of one
    command parses, prints its ``--help`` and reports its errors exactly as the whole app's does;
    ``kerun --help``, a misspelt command and shell completion get the whole app."""
    from typer.main import get_command_name

    if name is None or name.startswith("-"):
        return app
    found = [c for c in app.registered_commands if (c.name or get_command_name(c.callback.__name__)) == name]  # type: ignore[union-attr]
    if len(found) != 1:
        return app
    one = copy.copy(app)
    one.registered_commands = found
    return one


def json_wanted(ctx: typer.Context, value: Any) -> Any:
    if value is True or value == "json":
        ctx.meta[JSON_WANTED] = True
    return value


def JsonOption(help: str = "Print the result as JSON.") -> Any:  # noqa: N802 - reads like typer.Option
    return typer.Option(False, "--json", help=help, callback=json_wanted)
