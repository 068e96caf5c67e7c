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


_TENSORFLOW_COMMANDS = {"train", "eval", "predict", "summary", "plot", "launch", "sweep", "import", "export"}


def main() -> None:
    from kerun.orchestrate.lifeline import hold

    hold()  # a sweep trial or launched worker ends with the kerun that started it
    if len(sys.argv) > 1 and sys.argv[1] in _TENSORFLOW_COMMANDS:
        from kerun.tfenv import filter_native_stderr

        filter_native_stderr()
    app()


# ---------------------------------------------------------------------------------------------
# Commands that need TensorFlow: it is imported inside each.


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _short_value(value: Any) -> str:
    """A sweep value for a table cell: floats to 4 significant digits, the rest as JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value)


def _metrics_table(metrics: dict[str, dict[str, float]], title: str) -> Any:
    from rich.table import Table

    names: list[str] = []
    for values in metrics.values():
        names.extend(k for k in values if k not in names)
    table = Table(title=title, title_justify="left")
    table.add_column("split")
    for n in names:
        table.add_column(n, justify="right")
    for split, values in metrics.items():
        table.add_row(split, *[f"{values[n]:.4f}" if n in values else "" for n in names])
    return table


@app.command()
@reports_errors
def train(
    spec: Optional[Path] = typer.Argument(None, help="The spec file (with --resume, the run's own spec by default)."),
    overrides: Optional[list[str]] = SetOption,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run folders go."),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="RUN_DIR", help="Continue an interrupted or killed run in its folder."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object with the run folder, status and metrics."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    smoke: bool = typer.Option(False, "--smoke", help="Run the stages of 'kerun check' for this spec instead of training."),
) -> None:
    """Train a spec and leave a complete run folder."""
    if smoke:
        if spec is None:
            raise typer.BadParameter("--smoke needs a spec")
        raise typer.Exit(_check_command([spec], overrides or [], Format.text, None, False, 5, 600.0, 1, False, json_out))
    from kerun.run.train import TrainOptions, train as run_train
    from kerun.spec import load_spec
    from kerun.run.rundir import RunDir

    if spec is None:
        if resume is None:
            raise typer.BadParameter("give a spec file, or --resume RUN_DIR")
        loaded = RunDir.open(resume).load_spec()
    else:
        loaded = load_spec(spec, overrides or [])
    progress = "quiet" if quiet or json_out else "auto"
    result = run_train(loaded, TrainOptions(runs_dir=runs_dir, resume=resume, progress=progress))
    if json_out:
        print(json.dumps(result.to_dict(), indent=2))
        return
    console = _console()
    console.print(_metrics_table(result.metrics, f"{loaded.name}: {result.status} after {result.epochs} epochs in {result.seconds:.1f}s"))
    console.print(f"run folder: {result.run_dir}")


@app.command("eval")
@reports_errors
def eval_(
    run_dir: Path = typer.Argument(..., help="A run folder."),
    split: str = typer.Option("test", "--split", help="test, validation or train."),
    data: Optional[Path] = typer.Option(None, "--data", metavar="SOURCE.yaml", help="Evaluate on another source (a YAML file with one data source)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Evaluate a run's model; for classifiers also a confusion matrix (table and PNG)."""
    from kerun.run.evaluate import evaluate_run

    if split not in ("test", "validation", "train"):
        raise typer.BadParameter("--split is test, validation or train")
    result = evaluate_run(run_dir, split=split, data_file=data)
    if json_out:
        print(json.dumps(result, indent=2))
        return
    console = _console()
    console.print(_metrics_table({result["split"]: result["metrics"]}, f"{run_dir}: {result['examples']} examples"))
    cm = result.get("confusion_matrix")
    if cm:
        from rich.table import Table

        table = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
        table.add_column("")
        for label in cm["labels"]:
            table.add_column(label, justify="right")
        for label, row in zip(cm["labels"], cm["matrix"]):
            table.add_row(label, *[str(v) for v in row])
        console.print(table)


@app.command()
@reports_errors
def predict(
    run_dir: Path = typer.Argument(..., help="A run folder."),
    input: Path = typer.Option(..., "--input", "-i", help="A CSV, Parquet or npz file, or a YAML file with one data source."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="OUT.csv, .npy, .npz or .parquet (default: in the run folder)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Predict with a run's model, batch by batch, with the same input mapping as training."""
    from kerun.run.predict import predict_run

    result = predict_run(run_dir, input, output, batch_size=batch_size)
    if json_out:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['rows']} predictions written to {result['output']}")


@app.command()
@reports_errors
def summary(
    spec: Path = typer.Argument(..., help="A spec file."),
    overrides: Optional[list[str]] = SetOption,
    expand: bool = typer.Option(False, "--expand", help="Show the layers inside sub-models too."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object: total_params, trainable_params, layers."),
) -> None:
    """Build the model and show its layers, shapes and parameters, before any training."""
    from kerun.model.describe import describe_model
    from kerun.model.model import build_model
    from kerun.spec import load_spec
    from kerun.tfenv import quiet_tensorflow

    quiet_tensorflow()
    loaded = load_spec(spec, overrides or [])
    built = build_model(loaded)
    info = describe_model(built.model, expand=expand)
    if json_out:
        print(json.dumps(info, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{loaded.name} ({type(built.model).__name__})", title_justify="left")
    for col in ("name", "type", "output shape", "params", "inputs"):
        table.add_column(col, justify="right" if col == "params" else "left")
    for layer in info["layers"]:
        indent = "  " * layer["depth"]
        table.add_row(indent + layer["name"], layer["type"], str(layer["output_shape"]), f"{layer['params']:,}", ", ".join(layer["inputs"]))
    console = _console()
    console.print(table)
    console.print(f"total params: {info['total_params']:,}  trainable: {info['trainable_params']:,}  non-trainable: {info['non_trainable_params']:,}")


@app.command()
@reports_errors
def plot(
    spec: Path = typer.Argument(..., help="A spec file."),
    output: Path = typer.Option(Path("model.png"), "-o", "--output", help="model.png or model.svg"),
    overrides: Optional[list[str]] = SetOption,
    expand: bool = typer.Option(False, "--expand", help="Draw the layers inside sub-models."),
) -> None:
    """Draw the model's graph with shapes (needs Graphviz's dot)."""
    from kerun.model.describe import plot_model
    from kerun.model.model import build_model
    from kerun.spec import load_spec
    from kerun.tfenv import quiet_tensorflow

    quiet_tensorflow()
    loaded = load_spec(spec, overrides or [])
    built = build_model(loaded)
    plot_model(built.model, output, expand=expand)
    print(f"wrote {output}")


@app.command()
@reports_errors
def runs(
    name: Optional[str] = typer.Argument(None, help="Only runs of this spec name."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """A table of runs: status, duration and headline metrics."""
    from kerun.run.listing import list_runs

    rows = list_runs(runs_dir, name)
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"runs in {runs_dir}", title_justify="left")
    for col in ("run", "status", "started", "duration", "epochs", "metrics"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["run"], r["status"], r["started_at"] or "", r["duration"], str(r["epochs"] or ""), r["headline"])
    _console().print(table)


@app.command()
@reports_errors
def show(run_dir: Path = typer.Argument(..., help="A run folder.")) -> None:
    """Everything about one run: manifest, metrics, files."""
    from kerun.run.listing import show_run

    print(show_run(run_dir))


def _check_command(paths: list[Path], overrides: list[str], fmt: Format, junit: Optional[Path], synthetic: bool,
                   steps: int, timeout: float, jobs: int, keep: Optional[Path] | bool, json_out: bool) -> int:
    from kerun.orchestrate.check import CheckOptions, check_specs, exit_code, github_annotations, junit_xml

    files = expand_specs(paths)
    if not files:
        _err("kerun check: no spec files found in " + ", ".join(map(str, paths)))
        return 2
    options = CheckOptions(steps=steps, timeout=timeout, jobs=jobs, synthetic=synthetic,
                           keep=keep if isinstance(keep, Path) else None, overrides=tuple(overrides))
    console = _console(stderr=True)
    live_mode = console.is_terminal and not json_out
    printed: set[str] = set()

    def table(results: list[Any]) -> Any:
        from rich.table import Table

        t = Table(title="kerun check", title_justify="left")
        for col in ("spec", "stage", "time", "result"):
            t.add_column(col)
        colours = {"passed": "green", "failed": "red", "invalid": "red", "running": "yellow", "pending": "dim"}
        for r in results:
            t.add_row(r.spec, r.stage, f"{r.seconds:.1f}s" if r.seconds else "", f"[{colours[r.result]}]{r.result}[/]")
        return t

    def on_update(results: list[Any]) -> None:
        if live_mode:
            live.update(table(results))
            return
        if json_out:
            return
        for r in results:
            if r.result in ("passed", "failed", "invalid") and r.spec not in printed:
                printed.add(r.spec)
                console.print(f"{r.result:<8} {r.spec}  (stage {r.stage}, {r.seconds:.1f}s)", highlight=False, markup=False)

    if live_mode:
        from rich.live import Live

        with Live(table([]), console=console, refresh_per_second=4) as live:
            results = check_specs(files, options, on_update)
            live.update(table(results))
    else:
        results = check_specs(files, options, on_update)
    if junit is not None:
        from kerun.run.rundir import atomic_write

        atomic_write(junit, junit_xml(results))
    if json_out:
        print(json.dumps({"results": [r.to_dict() for r in results], "exit_code": exit_code(results)}, indent=2))
    elif fmt is Format.github:
        text = github_annotations(results)
        if text:
            print(text)
    failing = [r for r in results if r.result != "passed"]
    if not json_out and fmt is not Format.github:
        for r in failing:
            detail = "\n".join(p.render() for p in r.problems) or (r.message or "")
            console.print(f"\n{r.spec}: {r.result} at stage {r.stage}\n{detail}", highlight=False, markup=False)
    if not json_out:
        passed = sum(r.result == "passed" for r in results)
        console.print(f"\nkerun check of {len(results)} spec{'s' if len(results) != 1 else ''}: {passed} passed, "
                      f"{sum(r.result == 'failed' for r in results)} failed, {sum(r.result == 'invalid' for r in results)} invalid "
                      f"({sum(r.seconds for r in results):.1f}s)", highlight=False, markup=False)
    return exit_code(results)


@app.command()
def check(
    paths: list[Path] = typer.Argument(..., help="Spec files or folders of specs."),
    overrides: Optional[list[str]] = SetOption,
    synthetic: bool = typer.Option(False, "--synthetic", help="Generate data from the declared inputs and outputs instead of reading the real data."),
    steps: int = typer.Option(5, "--steps", min=1, help="Training steps per spec."),
    timeout: float = typer.Option(600.0, "--timeout", min=1, help="Seconds each spec may take."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Specs checked in parallel processes."),
    keep: Optional[Path] = typer.Option(None, "--keep", metavar="RUNS_DIR", help="Keep each spec's run folder under RUNS_DIR."),
    junit: Optional[Path] = typer.Option(None, "--junit", metavar="FILE", help="Write JUnit XML for CI."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or github for annotations at the failing lines."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Smoke-test specs for CI: validate, build, train a few steps, save, reload, evaluate."""
    raise typer.Exit(_check_command(paths, overrides or [], fmt, junit, synthetic, steps, timeout, jobs, keep, json_out))


@app.command()
@reports_errors
def launch(
    spec: Path = typer.Argument(..., help="A spec with distribute.strategy: multi_worker_mirrored."),
    workers: int = typer.Option(2, "--workers", "-n", min=1, help="Worker processes to start on this machine."),
    overrides: Optional[list[str]] = SetOption,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run folders go."),
    timeout: float = typer.Option(3600.0, "--timeout", min=1, help="Seconds the whole launch may take; then every worker is killed."),
    restarts: int = typer.Option(0, "--restarts", min=0, help="Times to restart all workers after one fails (training continues from the last backed-up epoch)."),
    json_out: bool = typer.Option(False, "--json", help="Print every worker's result as JSON."),
) -> None:
    """Train one multi-worker run on N local processes over loopback (127.0.0.1)."""
    from kerun.orchestrate.launch import launch as run_launch

    say = (lambda _m: None) if json_out else (lambda m: _err(f"launch: {m}"))
    result = run_launch(spec, workers, overrides or [], runs_dir, timeout=timeout, restarts=restarts, on_event=say)
    if json_out:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        from rich.table import Table

        table = Table(title=f"{spec}: {workers} workers, {result.attempts} attempt(s), {result.seconds:.1f}s", title_justify="left")
        for col in ("worker", "role", "status", "exit", "epochs", "loss", "error / log"):
            table.add_column(col)
        for w in result.workers:
            epochs = (w.result or {}).get("epochs", "")
            loss = f"{w.loss:.6f}" if w.loss is not None else ""
            table.add_row(str(w.index), "chief" if w.index == 0 else "worker", w.status, str(w.exit_code), str(epochs), loss,
                          w.error.splitlines()[0][:120] if w.error else str(w.log))
        console = _console()
        console.print(table)
        console.print(f"run folder: {result.run_dir}")
    raise typer.Exit(0 if result.ok else 1)


@app.command()
@reports_errors
def sweep(
    spec: Optional[Path] = typer.Argument(None, help="A spec with a sweep section."),
    overrides: Optional[list[str]] = SetOption,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Sweeps go to RUNS_DIR/<name>/sweep-<timestamp>-<id>/."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Trials run at once, each in its own process."),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="SWEEP_DIR", help="Continue the sweep in this folder."),
    new: bool = typer.Option(False, "--new", help="Start a new sweep even if one of the same spec exists (by default it is continued)."),
    json_out: bool = typer.Option(False, "--json", help="Print the sweep's result as JSON."),
) -> None:
    """Search the spec's sweep.space (grid, random or bayesian) with Optuna; resumable."""
    from kerun.orchestrate.sweep import SweepOptions, resume_sweep, sweep_file

    say = (lambda _m: None) if json_out else (lambda m: _err(f"sweep: {m}"))
    options = SweepOptions(runs_dir=runs_dir, jobs=jobs, new=new, on_event=say)
    if resume is not None:
        if spec is not None or overrides:
            raise typer.BadParameter("--resume continues a sweep with its own spec; give no SPEC or --set")
        result = resume_sweep(resume, options)
    elif spec is None:
        raise typer.BadParameter("give a spec file, or --resume SWEEP_DIR")
    else:
        result = sweep_file(spec, overrides or [], options)
    if json_out:
        print(json.dumps(result.to_dict(), indent=2))
        return
    from rich.table import Table

    keys = list((result.best or {}).get("params", {}))
    table = Table(title=f"sweep {result.folder.name}: {len(result.trials)} trials ({result.ran} run now)", title_justify="left")
    for col in ("trial", "state", "value", *keys, "seconds"):
        table.add_column(col)
    for r in result.trials:
        value = f"{r['value']:.4g}" if r["value"] is not None else ""
        table.add_row(str(r["trial"]), r["state"], value, *[_short_value(r.get(k)) for k in keys], f"{r['seconds'] or 0:.1f}")
    console = _console()
    console.print(table)
    if result.best:
        console.print(f"best: trial {result.best['trial']}, value {result.best['value']:.6g}")
    console.print(f"best spec: {result.folder / 'best.yaml'}\nsweep folder: {result.folder}")


@app.command("import")
@reports_errors
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


@app.command()
@reports_errors
def export(
    run_dir: Path = typer.Argument(..., help="A run folder."),
    fmt: ExportFormat = typer.Option(..., "--format", help="saved_model, onnx or tflite."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="PATH", help="Where the export goes (default: RUN_DIR/export/)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export a run's model through Keras, load it back and check it against the Keras model."""
    from kerun.interop.exporter import export_run
    from kerun.tfenv import quiet_tensorflow

    quiet_tensorflow()
    result = export_run(run_dir, fmt.value, output)
    if json_out:
        print(json.dumps(result.to_dict(), indent=2))
        return
    print(f"wrote {result.path} ({result.format}); checked on {result.samples} inputs: max abs difference "
          f"{result.max_abs_diff:.3g} (tolerance rtol={result.rtol:g}, atol={result.atol:g})")
