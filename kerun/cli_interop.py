"""The ``kerun import`` and ``kerun export`` commands (interop with Keras model files and other
formats), registered on :data:`kerun.cli_app.app` beside the others of :mod:`kerun.cli`."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from kerun.cli_app import JsonOption, command
from kerun.cli_app import err as _err

__all__ = ["ExportFormat"]


@command("import", tensorflow=True)
def import_(
    model: Path = typer.Argument(..., help="A .keras file, an .h5 file, or the JSON text of model.to_json()."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="SPEC.yaml", help="Write the spec here (default: print it)."),
    weights: bool = typer.Option(False, "--weights", help="Also write the model's weights to SPEC.weights.h5 and start training from them."),
    plugins: Optional[list[Path]] = typer.Option(None, "--plugins", metavar="FILE.py", help="A plugin file registering custom classes the model uses (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Replace SPEC.yaml if it exists."),
) -> None:
    """Bring a Keras model in as a spec that builds the same model."""
    from kerun.interop.importer import import_model
    from kerun.tfenv import quiet_tensorflow

    quiet_tensorflow()
    result = import_model(model, output, weights=weights, plugins=plugins or [], overwrite=force)
    for note in result.notes:
        _err(f"note: {note}")
    if output is None:
        print(result.text, end="")
        return
    print(f"wrote {output}" + (f" and {result.weights_path}" if result.weights_path else ""))


class ExportFormat(str, Enum):
    saved_model = "saved_model"
    onnx = "onnx"
    tflite = "tflite"


@command(tensorflow=True)
def export(
    run_dir: Path = typer.Argument(..., help="A run folder."),
    fmt: ExportFormat = typer.Option(..., "--format", help="saved_model, onnx or tflite."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="PATH", help="Where the export goes (default: RUN_DIR/export/)."),
    json_out: bool = JsonOption("Print the result as JSON."),
) -> None:
    """Export a run's model through Keras, load it back and check it against the Keras model."""
    from kerun.interop.exporter import export_run
    from kerun.tfenv import quiet_tensorflow

    quiet_tensorflow()
    if not json_out:
        _err(f"exporting {run_dir} as {fmt.value}, then loading it back to compare with the Keras model ...")
    result = export_run(run_dir, fmt.value, output)
    if json_out:
        print(json.dumps(result.to_dict(), indent=2))
        return
    print(f"wrote {result.path} ({result.format}); checked on {result.samples} inputs: max abs difference "
          f"{result.max_abs_diff:.3g} (tolerance rtol={result.rtol:g}, atol={result.atol:g})")
