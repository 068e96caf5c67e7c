"""Everything kerun draws on a terminal: tables and lines made from results, which stay data.

The command line (:mod:`kerun.cli`) calls a command, gets its result (a dict or a result object
with ``to_dict()``), and hands it to one function here. Each function returns a rich renderable or
a string, and prints nothing itself, so a test renders it on a fixed-width console and compares
the exact text (rich's own tests do the same). rich is imported on first use: ``kerun validate``
draws no table and does not pay for it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from kerun.errors import KerunError, Problem

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console
    from rich.table import Table

__all__ = [
    "CheckProgress",
    "check_failure",
    "check_line",
    "check_summary",
    "check_table",
    "error_text",
    "evaluation_report",
    "launch_table",
    "metrics_table",
    "new_console",
    "problems_text",
    "runs_table",
    "short_value",
    "summary_table",
    "summary_totals",
    "sweep_footer",
    "sweep_table",
]

CHECK_COLOURS = {"passed": "green", "failed": "red", "invalid": "red", "running": "yellow", "pending": "dim"}


def new_console(stderr: bool = False) -> "Console":
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _table(title: str, columns: Sequence[str], right: Iterable[str] = ()) -> "Table":
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    right = set(right)
    for col in columns:
        table.add_column(col, justify="right" if col in right else "left")
    return table


# ---------------------------------------------------------------------------------------------
# problems and errors


def problems_text(problems: Sequence[Problem], fmt: str = "text") -> str:
    """GCC-style lines (``fmt="text"``) or GitHub Actions workflow commands (``fmt="github"``)."""
    if fmt == "github":
        return "\n".join(p.render_github() for p in problems)
    return "\n".join(p.render() for p in problems)


def error_text(exc: KerunError, as_json: bool = False) -> str:
    """What the command line prints for an error kerun explains: its problems, or one JSON object."""
    return exc.to_json() if as_json else exc.render()


def short_value(value: Any) -> str:
    """A sweep value for a table cell: floats to 4 significant digits, the rest as JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value)


# ---------------------------------------------------------------------------------------------
# train, eval, summary, runs


def metrics_table(metrics: Mapping[str, Mapping[str, float]], title: str) -> "Table":
    """One row per split, one column per metric (in first-seen order)."""
    names: list[str] = []
    for values in metrics.values():
        names.extend(k for k in values if k not in names)
    table = _table(title, ["split", *names], right=names)
    for split, values in metrics.items():
        table.add_row(split, *[f"{values[n]:.4f}" if n in values else "" for n in names])
    return table


def again_table(rows: Sequence[Any], title: str) -> "Table":
    """The metrics of a run and of its repeat (:class:`kerun.run.again.MetricChange` rows)."""
    table = _table(title, ["split", "metric", "before", "again", "difference"], right=["before", "again", "difference"])
    for r in rows:
        cells = [f"{v:.4f}" if v is not None else "" for v in (r.before, r.after)]
        diff = r.difference
        table.add_row(r.split, r.metric, *cells, f"{diff:+.2e}" if diff is not None else "")
    return table


def compare_tables(comparison: Any) -> list["Table"]:
    """:class:`kerun.run.compare.Comparison`: the spec values that differ, then the metrics."""
    from kerun.run.compare import NOT_SET

    runs = list(comparison.labels)
    folders = _table("runs", ["run", "folder"])
    folders.columns[1].overflow = "fold"
    for label, path in zip(runs, comparison.runs):
        folders.add_row(label, str(path))
    diff = _table("spec values that differ" if comparison.differences else "the specs are the same",
                  ["path", *runs])
    for column in diff.columns:
        column.overflow = "fold"  # a dotted path or a value is never cut: it is what a user copies
    for key, values in comparison.differences:
        diff.add_row(key, *[repr(v) if v is NOT_SET else short_value(v) for v in values])
    metrics = _table("final metrics", ["split", "metric", *runs], right=runs)
    for split, name, values in comparison.metrics:
        metrics.add_row(split, name, *[f"{v:.4f}" if v is not None else "" for v in values])
    return [folders, diff, metrics]


def summary_table(title: str, info: Mapping[str, Any]) -> "Table":
    """The layers of :func:`kerun.model.describe.describe_model`, indented by depth."""
    table = _table(title, ["name", "type", "output shape", "params", "inputs"], right=["params"])
    for layer in info["layers"]:
        indent = "  " * layer["depth"]
        table.add_row(indent + layer["name"], layer["type"], str(layer["output_shape"]), f"{layer['params']:,}",
                      ", ".join(layer["inputs"]))
    return table


def summary_totals(info: Mapping[str, Any]) -> str:
    return (f"total params: {info['total_params']:,}  trainable: {info['trainable_params']:,}  "
            f"non-trainable: {info['non_trainable_params']:,}")


def _started(value: Any) -> str:
    """``2026-12-01T09:30:05Z`` as ``2026-12-01 09:30``: the minute is enough in a list."""
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) >= 16 and text[10:11] == "T" else text


class _RunsView:
    """The runs as a table when it fits the width; else two lines a run (the id, status, epochs,
    time and start on the first, the metrics indented below), so an id is never cut or wrapped."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], runs_dir: Any) -> None:
        self.rows, self.runs_dir = rows, runs_dir

    _COLUMNS = (("run", False), ("status", False), ("started", False), ("time", True), ("epochs", True), ("metrics", False))

    def cells(self) -> list[list[str]]:
        return [[str(r["run"]), str(r["status"]), _started(r["started_at"]), str(r["duration"] or ""),
                 str(r["epochs"] or ""), str(r["headline"] or "")] for r in self.rows]

    def width(self) -> int:
        """The table's width with no cell cut or wrapped (two spaces between columns)."""
        cells = self.cells()
        return sum(max([len(name), *(len(row[i]) for row in cells)]) + 2 for i, (name, _) in enumerate(self._COLUMNS))

    def table(self) -> "Table":
        from rich import box
        from rich.table import Table

        table = Table(title=f"runs in {self.runs_dir}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for col, right in self._COLUMNS:
            table.add_column(col, no_wrap=True, justify="right" if right else "left")
        for row in self.cells():
            table.add_row(*row)
        return table

    def lines(self) -> list[str]:
        out = [f"runs in {self.runs_dir}"]
        for r in self.rows:
            out.append(f"{r['run']}  {r['status']}")
            facts = [f"{r['epochs']} epochs" if r["epochs"] else "", r["duration"], _started(r["started_at"])]
            if any(facts):
                out.append("    " + ", ".join(f for f in facts if f))
            if r["headline"]:
                out.append(f"    {r['headline']}")
        return out

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        if self.width() <= options.max_width:
            yield self.table()
            return
        for line in self.lines():
            yield Text(line)


def runs_table(rows: Sequence[Mapping[str, Any]], runs_dir: Any) -> Any:
    """The runs listed for a terminal or a pipe: a run id is what users copy, so it is shown whole
    at any width (see :class:`_RunsView`)."""
    return _RunsView(rows, runs_dir)


# ---------------------------------------------------------------------------------------------
# check, launch, sweep


def check_table(results: Sequence[Any]) -> "Table":
    """The live table of ``kerun check``: one row per spec, its stage, time and result."""
    table = _table("kerun check", ["spec", "stage", "time", "result"])
    for r in results:
        table.add_row(r.spec, r.stage, f"{r.seconds:.1f}s" if r.seconds else "", f"[{CHECK_COLOURS[r.result]}]{r.result}[/]")
    return table


class CheckProgress:
    """``kerun check``'s results as they come, on stderr: a live table on a terminal, one line per
    finished spec otherwise, nothing when ``silent`` (``--json``)."""

    def __init__(self, silent: bool = False) -> None:
        self.console = new_console(stderr=True)
        self.live_mode = self.console.is_terminal and not silent
        self.silent = silent
        self._printed: set[str] = set()
        self._live: Any = None

    def update(self, results: Sequence[Any]) -> None:
        if self._live is not None:
            self._live.update(check_table(results))
            return
        if self.silent:
            return
        for r in results:
            if r.result in ("passed", "failed", "invalid") and r.spec not in self._printed:
                self._printed.add(r.spec)
                self.console.print(check_line(r), highlight=False, markup=False)

    def run(self, check: Callable[[Callable[[Sequence[Any]], None]], Sequence[Any]]) -> Sequence[Any]:
        """``check(on_update)`` with the progress shown; its results."""
        if not self.live_mode:
            return check(self.update)
        from rich.live import Live

        with Live(check_table([]), console=self.console, refresh_per_second=4) as live:
            self._live = live
            results = check(self.update)
            live.update(check_table(results))
        self._live = None
        return results


def check_line(r: Any) -> str:
    """One finished spec, for a log that is not a terminal."""
    return f"{r.result:<8} {r.spec}  (stage {r.stage}, {r.seconds:.1f}s)"


def check_failure(r: Any) -> str:
    detail = "\n".join(p.render() for p in r.problems) or (r.message or "")
    return f"\n{r.spec}: {r.result} at stage {r.stage}\n{detail}"


def check_summary(results: Sequence[Any]) -> str:
    n = len(results)
    counts = {k: sum(r.result == k for r in results) for k in ("passed", "failed", "invalid")}
    return (f"\nkerun check of {n} spec{'s' if n != 1 else ''}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['invalid']} invalid ({sum(r.seconds for r in results):.1f}s)")


def launch_table(spec: Any, workers: int, result: Any) -> "Table":
    table = _table(f"{spec}: {workers} workers, {result.attempts} attempt(s), {result.seconds:.1f}s",
                   ["worker", "role", "status", "exit", "epochs", "loss", "error / log"])
    for w in result.workers:
        epochs = (w.result or {}).get("epochs", "")
        loss = f"{w.loss:.6f}" if w.loss is not None else ""
        table.add_row(str(w.index), "chief" if w.index == 0 else "worker", w.status, str(w.exit_code), str(epochs), loss,
                      w.error.splitlines()[0][:120] if w.error else str(w.log))
    return table


def sweep_table(result: Any) -> "Table":
    """Every trial of a sweep with the best trial's parameters as columns."""
    keys = list((result.best or {}).get("params", {}))
    table = _table(f"sweep {result.folder.name}: {len(result.trials)} trials ({result.ran} run now)",
                   ["trial", "state", "value", *keys, "seconds"])
    for r in result.trials:
        value = f"{r['value']:.4g}" if r["value"] is not None else ""
        table.add_row(str(r["trial"]), r["state"], value, *[short_value(r.get(k)) for k in keys], f"{r['seconds'] or 0:.1f}")
    return table


def sweep_footer(result: Any) -> str:
    lines = []
    if result.best:
        lines.append(f"best: trial {result.best['trial']}, value {result.best['value']:.6g}")
    lines.append(f"best spec: {result.folder / 'best.yaml'}\nsweep folder: {result.folder}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# evaluation reports (kerun.run.tasks chose them; every table fits 80 columns)

TABLE_ROWS = 20  # a report of more classes (or columns) than this shows only its worst ...
WORST_CLASSES = 10  # ... this many of them; the run folder's CSV holds every one
TASK_NAMES = {"multiclass": "multi-class", "many-classes": "many classes", "multilabel": "multi-label"}


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e5 and (value == 0 or abs(value) >= 1e-3) else f"{value:.3g}"
    return str(value)


def _compact(columns: Sequence[tuple[str, bool]]) -> "Table":
    """A table without side borders, every cell on one line, headers never cut (long names are
    shortened by :func:`_short` before; the run folder's CSV keeps them whole)."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name, right in columns:
        table.add_column(name, no_wrap=True, justify="right" if right else "left", min_width=len(name))
    return table


def _short(name: str, width: int = 24) -> str:
    """A long class name cut in its middle: names often differ at their end (``..._17``)."""
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return name[:head] + "…" + name[-(width - 1 - head):]


def _titled(title: str, table: "Table") -> Any:
    """A title on its own line above a table (a table's own title wraps to the table's width)."""
    from rich.console import Group
    from rich.text import Text

    return Group(Text(title), table) if title else table


def _add(table: "Table", *cells: str) -> None:
    """A row of plain text: a class named ``[UNK]`` is not rich markup."""
    from rich.text import Text

    table.add_row(*(Text(c) for c in cells))


class _Pairs:
    """``name value`` pairs packed into lines of the console's width, a pair never split."""

    def __init__(self, pairs: Sequence[tuple[str, str]], indent: str = "  ") -> None:
        self.pairs, self.indent = pairs, indent

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        line = ""
        for name, value in self.pairs:
            item = f"{name} {value}"
            if line and len(self.indent) + len(line) + 2 + len(item) > options.max_width:
                yield Text(self.indent + line)
                line = ""
            line = f"{line}  {item}" if line else item
        if line:
            yield Text(self.indent + line)


class _Files:
    """The files of a report on one line, or one a line when that line would not fit."""

    def __init__(self, files: Sequence[str]) -> None:
        self.files = files

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        line = "  files: " + ", ".join(self.files)
        if len(line) <= options.max_width:
            yield Text(line)
            return
        yield Text("  files:")
        for name in self.files:
            yield Text(f"    {name}")


class _IfFits:
    """A table when it fits the width, else one line saying where the whole of it is."""

    def __init__(self, table: Any, instead: str) -> None:
        self.table, self.instead = table, instead

    def __rich_console__(self, console: Any, options: Any) -> Any:
        import io

        from rich.console import Console
        from rich.text import Text

        wide = Console(file=io.StringIO(), width=1000, color_system=None, highlight=False)
        wide.print(self.table)  # its natural width, no cell squeezed (a measurement can promise less)
        if max(len(line.rstrip()) for line in wide.file.getvalue().splitlines()) <= options.max_width:
            yield self.table
        else:
            yield Text(self.instead)


def _text(value: Any) -> Any:
    from rich.text import Text

    return Text(value) if isinstance(value, str) else value


def _class_table(report: Mapping[str, Any]) -> tuple[Any, str | None]:
    rows = report["classes"]
    iou = report["task"] == "segmentation"
    note = None
    if len(rows) > TABLE_ROWS:
        shown = [r for r in rows if r["support"] or r["predicted"]]
        shown = sorted(shown, key=lambda r: ((r["iou"] or 0.0) if iou else r["f1"], -r["support"]))[:WORST_CLASSES]
        title = f"  the {len(shown)} worst of {len(rows)} classes (by {'IoU' if iou else 'F1'})"
        note = f"all {len(rows)} classes: " + (report.get("files") or ["the eval JSON"])[0]
    else:
        shown, title = rows, ""
    columns = [("label" if report["task"] == "multilabel" else "class", False), *((("iou", True),) if iou else ()),
               ("prec", True), ("rec", True), ("f1", True), ("n", True)]
    table = _compact(columns)
    for r in shown:
        _add(table, _short(r["class"]), *([_num(r["iou"], 3)] if iou else []), _num(r["precision"], 3), _num(r["recall"], 3),
                      _num(r["f1"], 3), str(r["support"]))
    return _titled(title, table), note


def _matrix_table(cm: Mapping[str, Any]) -> Any:
    labels = [str(v) for v in cm["labels"]]
    short = all(len(v) <= 8 for v in labels)
    heads = labels if short else [str(i) for i in range(len(labels))]
    table = _compact([("", False), *((h, True) for h in heads)])
    for i, (label, row) in enumerate(zip(labels, cm["matrix"])):
        _add(table, label if short else _short(f"{i} {label}", 20), *[str(v) for v in row])
    return _titled("  confusion matrix (rows: true, columns: predicted)", table)


def _regression(report: Mapping[str, Any]) -> list[Any]:
    columns = report["columns"]
    shown = columns if len(columns) <= TABLE_ROWS else sorted(columns, key=lambda c: c["R2"])[:WORST_CLASSES]
    table = _compact([("column", False), ("MAE", True), ("RMSE", True), ("R^2", True)])
    for c in shown:
        _add(table, _short(c["column"]), *(_num(c[k]) for k in ("MAE", "RMSE", "R2")))
    res = report["residuals"]
    title = "" if shown is columns else f"  the {len(shown)} worst of {len(columns)} columns (by R^2)"
    return [_titled(title, table), "  residuals (prediction - target):",
            _Pairs([(k, _num(v)) for k, v in res.items()], indent="    ")]


def evaluation_report(report: Mapping[str, Any]) -> list[Any]:
    """One output's report (:mod:`kerun.run.eval_report`): what it is and why, its summary, its
    table (the worst classes only when there are many), the files holding the rest."""
    label = TASK_NAMES.get(report["task"], report["task"])
    parts: list[Any] = ["", f"{report['output']}: {label}", f"  because: {report['why']}", _Pairs([(k, _num(v)) for k, v in report["summary"].items()])]
    if report.get("ignored"):
        parts.append(f"  {report['ignored']} target values outside the classes were not counted")
    note = None
    if report["task"] == "regression":
        parts.extend(_regression(report))
    elif report.get("classes"):
        table, note = _class_table(report)
        parts.append(table)
    if report["task"] in ("binary", "multiclass") and report.get("confusion_matrix"):
        files = [f for f in report.get("files", []) if f.endswith(".png")]
        parts.append(_IfFits(_matrix_table(report["confusion_matrix"]),
                             f"  confusion matrix: too wide here, see {files[0] if files else 'the eval JSON'}"))
    if "target range" in report:
        low, high = report["target range"]
        parts.append(f"  targets from {_num(low)} to {_num(high)}")
    files = report.get("files") or []
    if note:
        parts.append(f"  {note}")
    elif files:
        parts.append(_Files(files))
    return [_text(p) for p in parts]
