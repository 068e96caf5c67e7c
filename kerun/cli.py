"""The ``kerun`` commands: each parses its options, calls one function of the package, and hands
the result to :mod:`kerun.console`.

Errors are handled once, for every command, by the app's :class:`~kerun.cli_app.KerunGroup`.
Commands declared ``tensorflow=True`` import it inside their function, so ``kerun --help``,
``kerun validate`` and ``kerun schema`` start in a fraction of a second.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from kerun.cli_app import TENSORFLOW_COMMANDS, JsonOption, KerunGroup, app, app_for, command
from kerun.cli_app import err as _err
from kerun.cli_app import json_wanted as _json_wanted
from kerun.cli_plain import expand_specs

__all__ = ["KerunGroup", "TENSORFLOW_COMMANDS", "app", "main"]


class Format(str, Enum):
    text = "text"
    json = "json"
    github = "github"


SetOption = typer.Option(None, "--set", metavar="PATH=VALUE", help="Change one value before checking, e.g. --set train.epochs=3 (repeatable).")
TrackOption = typer.Option(None, "--track", metavar="mlflow", help="Track in MLflow (MLFLOW_TRACKING_URI, else RUNS_DIR/mlflow.db): --set tracking=mlflow. Needs pip install 'kerun[mlflow]'.")


@command()
def validate(
    specs: list[Path] = typer.Argument(..., help="Spec files or folders of specs."),
    overrides: Optional[list[str]] = SetOption,
    fmt: Format = typer.Option(Format.text, "--format", help="text, json (for tools) or github (CI annotations).", callback=_json_wanted),
) -> None:
    """Check specs completely, without TensorFlow: every problem, by file and line."""
    from kerun.cli_plain import validate_specs

    raise typer.Exit(validate_specs(specs, overrides or [], fmt.value))


@command()
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


@command()
def explain(
    spec: Path = typer.Argument(..., help="A spec file."),
    overrides: Optional[list[str]] = SetOption,
    origins: bool = typer.Option(False, "--origins", help="Show the resolved spec (bases merged, blocks expanded, no defaults added) with the file and line each value came from."),
) -> None:
    """Print the spec with every default filled in, as it will run."""
    from kerun.spec import dump_yaml, load_spec
    from kerun.spec.explain import explained, origins_text

    loaded = load_spec(spec, overrides or [])
    print(origins_text(loaded) if origins else dump_yaml(explained(loaded)), end="")


PRINT_ONLY_COMMANDS = frozenset({"validate", "schema", "explain"})
"""Commands that read specs and print, and leave nothing running or half-written when they return:
:func:`main` ends their process at once (:func:`kerun.cli_plain.exit_now`)."""


def main() -> None:
    from kerun.orchestrate.lifeline import hold

    hold()  # a sweep trial or launched worker ends with the kerun that started it
    name = sys.argv[1] if len(sys.argv) > 1 else None
    if name in TENSORFLOW_COMMANDS:
        from kerun.tfenv import filter_native_stderr

        filter_native_stderr()
    from kerun.cli_plain import completing, exit_now

    target = app if completing() else app_for(name)
    if name not in PRINT_ONLY_COMMANDS:
        target()
        return

    try:
        target()
    except SystemExit as exc:
        exit_now(exc.code)


# ---------------------------------------------------------------------------------------------
# Commands that need TensorFlow: it is imported inside each.


def _print(*renderables: Any, stderr: bool = False) -> None:
    """Print tables and lines of :mod:`kerun.console` on a terminal-aware rich console."""
    from kerun.console import new_console

    console = new_console(stderr=stderr)
    for r in renderables:
        console.print(r)


@command(tensorflow=True)
def train(
    spec: Optional[Path] = typer.Argument(None, help="The spec file (with --resume, the run's own spec by default)."),
    overrides: Optional[list[str]] = SetOption,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run folders go."),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="RUN_DIR", help="Continue an interrupted or killed run in its folder."),
    again: Optional[Path] = typer.Option(None, "--again", metavar="RUN_DIR", help="Train a completed run's own spec again in a new folder and compare the metrics."),
    json_out: bool = JsonOption("Print one JSON object with the run folder, status and metrics."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    smoke: bool = typer.Option(False, "--smoke", help="Run the stages of 'kerun check' for this spec instead of training."),
    track: Optional[str] = TrackOption,
) -> None:
    """Train a spec and leave a complete run folder."""
    overrides = [*(overrides or []), f"tracking={track}"] if track else overrides  # the spec's tracking: key
    if smoke:
        if spec is None:
            raise typer.BadParameter("--smoke needs a spec")
        from kerun.orchestrate.check import CheckOptions

        raise typer.Exit(_check_command([spec], CheckOptions(overrides=tuple(overrides or ())), Format.text, None, json_out))
    if not (json_out or quiet):  # TensorFlow's start, the data and the build take seconds before the first epoch
        _err("kerun train: starting TensorFlow, reading the data, building the model ...")
    from kerun.run.train import TrainOptions, train as run_train
    from kerun.spec import load_spec
    from kerun.run.rundir import RUN_DIR_ENV, RunDir

    progress = "quiet" if quiet or json_out else "auto"
    if again is not None:
        if spec is not None or resume is not None or overrides:
            raise typer.BadParameter("--again repeats a run as it was: give no spec, --set or --resume with it")
        from kerun.console import again_table
        from kerun.run.again import train_again

        result, rows = train_again(again, TrainOptions(runs_dir=runs_dir, progress=progress))
        if json_out:
            print(json.dumps({**result.to_dict(), "repeats": str(again), "comparison": [r.to_dict() for r in rows]}, indent=2))
            return
        _print(again_table(rows, f"{again.name} again: {result.status} after {result.epochs} epochs"),
               f"run folder: {result.run_dir}")
        return
    if spec is None:
        if resume is None:
            raise typer.BadParameter("give a spec file, or --resume RUN_DIR")
        loaded = RunDir.open(resume).load_spec()
    else:
        loaded = load_spec(spec, overrides or [])
    agreed = os.environ.get(RUN_DIR_ENV)  # the environment is read here, once: the API takes run_dir
    result = run_train(loaded, TrainOptions(runs_dir=runs_dir, resume=resume, progress=progress, run_dir=Path(agreed) if agreed else None))
    if json_out:
        print(json.dumps(result.to_dict(), indent=2))
        return
    from kerun.console import evaluation_report, metrics_table
    from kerun.run.evaluate import stored_report

    report = stored_report(result.run_dir, result.metrics)  # eval-SPLIT.json, written by train, read back
    _print(metrics_table(result.metrics, f"{loaded.name}: {result.status} after {result.epochs} epochs in {result.seconds:.1f}s"),
           *([f"{report['split']} split, {report['examples']} examples:"] if report else []),
           *[part for r in (report or {}).get("reports", []) for part in evaluation_report(r)],
           f"run folder: {result.run_dir}")


@command("eval", tensorflow=True)
def eval_(
    run_dir: Path = typer.Argument(..., help="A run folder."),
    split: str = typer.Option("test", "--split", help="test (on a run without one: validation), validation or train."),
    data: Optional[Path] = typer.Option(None, "--data", metavar="SOURCE.yaml", help="Evaluate on another source (a YAML file with one data source)."),
    json_out: bool = JsonOption("Print the result as JSON."),
) -> None:
    """Evaluate a run's model with the report its task calls for (regression, classes, pixels, reconstruction)."""
    from kerun.run.evaluate import evaluate_run

    if split not in ("test", "validation", "train"):
        raise typer.BadParameter("--split is test, validation or train")
    result = evaluate_run(run_dir, split=split, data_file=data)
    if json_out:
        print(json.dumps(result, indent=2))
        return
    from kerun.console import evaluation_report, metrics_table

    _print(metrics_table({result["split"]: result["metrics"]}, f"{run_dir}: {result['examples']} examples"),
           *([result["note"]] if result.get("note") else []),
           *[part for report in result.get("reports", []) for part in evaluation_report(report)])


@command(tensorflow=True)
def predict(
    run_dir: Path = typer.Argument(..., help="A run folder."),
    input: Path = typer.Option(..., "--input", "-i", help="A CSV/TSV, Parquet or npz file, a folder of images or texts, or a YAML file with one data source."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="OUT.csv, .npy, .npz or .parquet (default: in the run folder)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    json_out: bool = JsonOption(),
) -> None:
    """Predict with a run's model, batch by batch, with the same input mapping as training."""
    from kerun.run.predict import predict_run

    result = predict_run(run_dir, input, output, batch_size=batch_size)
    if json_out:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['rows']} predictions written to {result['output']}")


@command(tensorflow=True)
def summary(
    spec: Path = typer.Argument(..., help="A spec file."),
    overrides: Optional[list[str]] = SetOption,
    expand: bool = typer.Option(False, "--expand", help="Show the layers inside sub-models too."),
    json_out: bool = JsonOption("One JSON object: total_params, trainable_params, layers."),
) -> None:
    """Build the model and show its layers, shapes and parameters, before any training."""
    from kerun.console import summary_table, summary_totals
    from kerun.model.describe import describe_model

    loaded, model = _built_model(spec, overrides, say=not json_out)
    info = describe_model(model, expand=expand)
    if json_out:
        print(json.dumps(info, indent=2))
        return
    _print(summary_table(f"{loaded.name} ({type(model).__name__})", info), summary_totals(info))


def _built_model(spec: Path, overrides: Optional[list[str]], *, say: bool = True) -> tuple[Any, Any]:
    """The loaded spec and its Keras model, for summary and plot (saying so on stderr: it takes seconds)."""
    if say:
        _err(f"building the model of {spec} (TensorFlow starts first) ...")
    from kerun.model.model import build_model
    from kerun.spec import load_spec
    from kerun.tfenv import quiet_tensorflow

    quiet_tensorflow()
    loaded = load_spec(spec, overrides or [])
    return loaded, build_model(loaded).model


@command(tensorflow=True)
def plot(
    spec: Path = typer.Argument(..., help="A spec file."),
    output: Path = typer.Option(Path("model.png"), "-o", "--output", help="model.png or model.svg"),
    overrides: Optional[list[str]] = SetOption,
    expand: bool = typer.Option(False, "--expand", help="Draw the layers inside sub-models."),
) -> None:
    """Draw the model's graph with shapes (needs Graphviz's dot)."""
    from kerun.model.describe import plot_model

    _, model = _built_model(spec, overrides)
    _err(f"drawing {output} ...")
    plot_model(model, output, expand=expand)
    print(f"wrote {output}")


@command()
def runs(
    name: Optional[str] = typer.Argument(None, help="Only runs of this spec name."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir"),
    where: Optional[list[str]] = typer.Option(None, "--where", metavar="KEY OP VALUE", help="Only runs where e.g. 'val_accuracy>0.9' holds (OP: = != > >= < <=; repeatable)."),
    sort: Optional[str] = typer.Option(None, "--sort", metavar="KEY", help="Best first by KEY (ascending for a loss or an error); -KEY descending, +KEY ascending."),
    limit: Optional[int] = typer.Option(None, "--limit", metavar="N", min=0, help="The first N runs (after --sort)."),
    json_out: bool = JsonOption(),
) -> None:
    """A table of runs: status, duration and headline metrics; filtered and sorted by a metric."""
    from kerun.run.listing import list_runs
    from kerun.run.run_filter import FilterError, apply_filters

    try:
        rows = apply_filters(list_runs(runs_dir, name), where or (), sort, limit)
    except FilterError as exc:
        raise typer.BadParameter(str(exc)) from None
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    from kerun.console import runs_table

    _print(runs_table(rows, runs_dir))


@command()
def compare(
    run_dirs: list[Path] = typer.Argument(..., metavar="RUN_DIR...", help="Two or more run folders."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Draw their training curves overlaid in this PNG."),
    json_out: bool = JsonOption("Print the differences and metrics as JSON."),
) -> None:
    """How runs differ: their specs' values, their metrics side by side, their curves in one picture."""
    from kerun.run.compare import compare_runs, plot_comparison

    comparison = compare_runs(run_dirs)
    if output is not None:
        plot_comparison(comparison, output)
    if json_out:
        print(json.dumps({**comparison.to_dict(), "picture": str(output) if output else None}, indent=2))
        return
    from kerun.console import compare_tables

    _print(*compare_tables(comparison), *([f"curves: {output}"] if output else []))


@command()
def show(run_dir: Path = typer.Argument(..., help="A run folder.")) -> None:
    """Everything about one run: manifest, metrics, files."""
    from kerun.run.listing import show_run

    print(show_run(run_dir))


def _check_command(paths: list[Path], options: Any, fmt: Format, junit: Optional[Path], json_out: bool) -> int:
    """``kerun check`` (and ``kerun train --smoke``): run the checks, show them live, report."""
    from kerun.console import CheckProgress, check_failure, check_summary
    from kerun.orchestrate.check import check_specs, exit_code, github_annotations, junit_xml

    if any(str(p) == "-" for p in paths):  # each spec is read again by a worker process
        _err("kerun check: a spec on standard input ('-') cannot be checked; save it to a file and check that")
        return 2
    files = expand_specs(paths)
    if not files:
        _err("kerun check: no spec files found in " + ", ".join(map(str, paths)))
        return 2
    progress = CheckProgress(silent=json_out)
    results = progress.run(lambda on_update: check_specs(files, options, on_update))
    console = progress.console
    if junit is not None:
        from kerun.run.rundir import atomic_write

        atomic_write(junit, junit_xml(results))
    if json_out:
        print(json.dumps({"results": [r.to_dict() for r in results], "exit_code": exit_code(results)}, indent=2))
    elif fmt is Format.github:
        text = github_annotations(results)
        if text:
            print(text)
    if not json_out and fmt is not Format.github:
        for r in results:
            if r.result != "passed":
                console.print(check_failure(r), highlight=False, markup=False)
            elif r.message:  # a passed check's note (randomness at inference compared with seeds fixed)
                console.print(f"\n{r.spec}: passed; {r.message}", highlight=False, markup=False)
    if not json_out:
        console.print(check_summary(results), highlight=False, markup=False)
    return exit_code(results)


@command()
def check(
    paths: list[Path] = typer.Argument(..., help="Spec files or folders of specs."),
    overrides: Optional[list[str]] = SetOption,
    synthetic: bool = typer.Option(False, "--synthetic", help="Generate data from the declared inputs and outputs instead of reading the real data."),
    steps: int = typer.Option(5, "--steps", min=1, help="Training steps per spec."),
    timeout: float = typer.Option(600.0, "--timeout", min=1, help="Seconds each spec may take."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Specs checked in parallel processes."),
    keep: Optional[Path] = typer.Option(None, "--keep", metavar="RUNS_DIR", help="Keep each spec's run folder under RUNS_DIR."),
    junit: Optional[Path] = typer.Option(None, "--junit", metavar="FILE", help="Write JUnit XML for CI."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or github for annotations at the failing lines.", callback=_json_wanted),
    json_out: bool = JsonOption("Print the results as JSON."),
    isolate: bool = typer.Option(False, "--isolate", help="A new process for every spec instead of warm workers that import TensorFlow once."),
) -> None:
    """Smoke-test specs for CI: validate, build, train a few steps, save, reload, evaluate."""
    from kerun.orchestrate.check import CheckOptions

    options = CheckOptions(steps=steps, timeout=timeout, jobs=jobs, synthetic=synthetic, keep=keep, overrides=tuple(overrides or ()),
                           isolate=isolate)
    raise typer.Exit(_check_command(paths, options, fmt, junit, json_out))


@command(tensorflow=True)
def launch(
    spec: Path = typer.Argument(..., help="A spec with distribute.strategy: multi_worker_mirrored."),
    workers: int = typer.Option(2, "--workers", "-n", min=1, help="Worker processes to start on this machine."),
    overrides: Optional[list[str]] = SetOption,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run folders go."),
    timeout: float = typer.Option(3600.0, "--timeout", min=1, help="Seconds the whole launch may take; then every worker is killed."),
    restarts: int = typer.Option(0, "--restarts", min=0, help="Times to restart all workers after one fails (training continues from the last backed-up epoch)."),
    json_out: bool = JsonOption("Print every worker's result as JSON."),
) -> None:
    """Train one multi-worker run on N local processes over loopback (127.0.0.1)."""
    from kerun.orchestrate.launch import launch as run_launch

    say = (lambda _m: None) if json_out else (lambda m: _err(f"launch: {m}"))
    result = run_launch(spec, workers, overrides or [], runs_dir, timeout=timeout, restarts=restarts, on_event=say)
    if json_out:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        from kerun.console import launch_table

        _print(launch_table(spec, workers, result), f"run folder: {result.run_dir}")
    raise typer.Exit(0 if result.ok else 1)


@command(tensorflow=True)
def sweep(
    spec: Optional[Path] = typer.Argument(None, help="A spec with a sweep section."),
    overrides: Optional[list[str]] = SetOption,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Sweeps go to RUNS_DIR/<name>/sweep-<timestamp>-<id>/."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Trials run at once, each in its own process."),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="SWEEP_DIR", help="Continue the sweep in this folder."),
    new: bool = typer.Option(False, "--new", help="Start a new sweep even if one of the same spec exists (by default it is continued)."),
    json_out: bool = JsonOption("Print the sweep's result as JSON."),
    isolate: bool = typer.Option(False, "--isolate", help="A new process for every trial instead of warm workers that import TensorFlow once."),
    storage: Optional[str] = typer.Option(None, "--storage", metavar="URL", envvar="KERUN_SWEEP_STORAGE", help="Share the sweep through this database (a SQLAlchemy URL: postgresql://user:pw@host/db); the same command on N machines runs one study, sweep.trials in all."),
    study: Optional[str] = typer.Option(None, "--study", metavar="NAME", help="The shared study's name (default: the spec's name)."),
    report: bool = typer.Option(False, "--report", help="Write trials.csv, best.yaml and objective.png from the study; run no trial."),
    heartbeat: int = typer.Option(10, "--heartbeat", metavar="SECONDS", min=1, help="With --storage: a trial whose process sent no heartbeat for 3 of these is failed and run again."),
    track: Optional[str] = TrackOption,
) -> None:
    """Search the spec's sweep.space (grid, random or bayesian) with Optuna; resumable, shareable through a database."""
    from kerun.orchestrate.sweep import SweepOptions, SweepResult, find_sweep, resume_sweep, sweep_file

    overrides = [*(overrides or []), f"tracking={track}"] if track else overrides  # a parent MLflow run, each trial a child
    say = (lambda _m: None) if json_out else (lambda m: _err(f"sweep: {m}"))
    options = SweepOptions(runs_dir=runs_dir, jobs=jobs, new=new, on_event=say, isolate=isolate, storage=storage, study=study, heartbeat=heartbeat)
    if report:  # the reports from the study as it stands, from any machine (kerun.orchestrate.storage)
        from kerun.orchestrate.storage import report as write_report

        folder, rows, best = write_report(spec, overrides or [], options, find_sweep, resume is not None or new)
        result = SweepResult(folder=folder, status="completed" if best else "running", trials=rows, best=best, ran=0)
    elif resume is not None:
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
    from kerun.console import sweep_footer, sweep_table

    _print(sweep_table(result), sweep_footer(result))


# kerun import and kerun export, registered on the same app (a module of their own: cli.py stays one screenful of commands each)
from kerun import cli_interop  # noqa: E402,F401
