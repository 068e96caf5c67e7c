"""``kerun import``: a Keras model (``.keras``, ``.h5`` or ``model.to_json()``) becomes a spec.

The model is read as configuration only: nothing is deserialized and no code runs, so a ``Lambda``
or a class from code kerun was not given is found before anything would execute it, and reported
with the layer's name. The spec written is the one a person would write:

- a straight chain stays a plain list (no ``inputs:``), whatever Keras class held it;
- arguments left at their defaults (looked up in the committed catalogue) are left out, and
  ``{type: GlorotUniform}`` becomes ``glorot_uniform``;
- names Keras made up (``dense_3``, ``conv2d``) are dropped unless an entry refers to them;
- nested models become ``models:`` entries (identical ones share one), shared layers ``use:``;
- scalar arithmetic on tensors, which Keras records as operations rather than layers
  (``x + 3.0``, ``x * (1 / 6)``), becomes a ``Rescaling`` entry that computes exactly the same,
  and tensor-with-tensor ``+``, ``-``, ``*`` the ``Add``, ``Subtract`` and ``Multiply`` layers.

With ``weights=True`` the model is also loaded (Keras ``safe_mode``), the kerun-built model gets
its weights layer by layer, and they are saved to ``<spec>.weights.h5``, which the spec names as
``train.initial_weights``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from kerun.errors import InteropError, SpecError
from kerun.interop.convert import spec_from_config
from kerun.interop.keras_config import read_model_config
from kerun.interop.weights import transfer_weights, weighted_layers, write_weights
from kerun.spec import dump_yaml, spec_from_text

__all__ = ["ImportResult", "import_model", "read_model_config", "spec_from_config", "transfer_weights", "weighted_layers"]

@dataclass
class ImportResult:
    spec: dict[str, Any]
    text: str
    notes: list[str] = field(default_factory=list)
    spec_path: Path | None = None
    weights_path: Path | None = None


# ---------------------------------------------------------------------------------------------
# the whole import


def _plugin_entries(plugins: Sequence[str | Path], spec_dir: Path) -> list[str]:
    out = []
    for p in plugins:
        text = str(p)
        if text.endswith(".py") or os.sep in text or "/" in text:
            path = Path(text).expanduser().resolve()
            if not path.is_file():
                raise InteropError(f"no plugin file {text!r}")
            out.append(Path(os.path.relpath(path, spec_dir)).as_posix())
        else:
            out.append(text)
    return out


def _load_plugins(entries: list[str], spec_file: Path) -> frozenset[str]:
    """Import the plugins; the names (short and ``package>Name``) of the classes they register."""
    from kerun.model.plugins import load_plugins
    from kerun.spec.plugins import scan_plugins

    stub = {"plugins": entries, "model": {"inputs": {"x": [1]}, "layers": [{"type": "Flatten"}]}}
    try:
        loaded = spec_from_text(dump_yaml(stub), file=str(spec_file))
    except SpecError as exc:
        raise InteropError(exc.problems[0].message, hint=exc.problems[0].hint) from None
    load_plugins(loaded)
    found, _ = scan_plugins(loaded.spec.plugins, loaded.doc, loaded.base_dir)
    return frozenset(found)


def import_model(model_path: Path, output: Path | None = None, *, weights: bool = False,
                 plugins: Sequence[str | Path] = (), overwrite: bool = False) -> ImportResult:
    """Read ``model_path``, write the spec to ``output`` (and the weights beside it with ``weights``).

    Without ``output`` nothing is written and the result holds the spec's text."""
    from kerun.run.rundir import atomic_write

    spec_file = (output if output is not None else Path.cwd() / "imported.yaml").resolve()
    if output is not None and output.exists() and not overwrite:
        raise InteropError(f"{output} exists already", hint="choose another -o, or pass --force to replace it")
    if weights and output is None:
        raise InteropError("--weights needs -o SPEC.yaml: the weights file goes beside the spec")
    entries = _plugin_entries(plugins, spec_file.parent)
    names = _load_plugins(entries, spec_file) if entries else frozenset()
    config = read_model_config(model_path)
    spec, notes = spec_from_config(config, source=str(model_path), plugins=entries, plugin_names=names)
    header = f"# Imported from {model_path.name} by kerun import.\n"
    text = header + dump_yaml(spec)
    try:
        loaded = spec_from_text(text, file=str(spec_file))
    except SpecError as exc:
        raise InteropError(f"the spec made from {model_path} does not validate (a kerun bug; please report it):\n{exc.render()}") from None
    result = ImportResult(spec=spec, text=text, notes=notes)
    if weights:
        if model_path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
            raise InteropError(f"{model_path} holds no weights", hint="--weights needs a .keras or .h5 file")
        weights_file = spec_file.with_name(spec_file.name.rsplit(".", 1)[0] + ".weights.h5")
        write_weights(model_path, loaded, weights_file)
        spec.setdefault("train", {})["initial_weights"] = weights_file.name
        result.text = text = header + dump_yaml(spec)
        result.weights_path = weights_file
    if output is not None:
        atomic_write(output, text)
        result.spec_path = output
    return result
