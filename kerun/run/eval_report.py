"""The numbers of an evaluation report, one output at a time, gathered batch by batch (numpy only).

:func:`accumulator` gives, for a :class:`kerun.run.tasks.Task`, an object with ``add(y_true,
y_pred)`` (one batch, as the dataset and ``predict_on_batch`` give them) and ``report(names)``: a
plain dict written as JSON into the run folder and drawn by :mod:`kerun.console`. Definitions follow
scikit-learn's (``precision_recall_fscore_support`` with ``zero_division=0``, macro averages over
the classes present in the targets or the predictions, ``roc_auc_score``, ``r2_score``,
``jaccard_score``); the tests compare them with scikit-learn on fixed arrays.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from kerun.run.tasks import Task

__all__ = ["TOP_K", "accumulator", "class_rows", "roc_auc"]

TOP_K = 5  # top-k accuracy for many classes
MATRIX_LIMIT = 100  # classes up to which the confusion matrix is kept in the report and drawn
AUC_LIMIT = 2_000_000  # scores kept for the ROC AUC of a binary output


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """The area under the ROC curve (the Mann-Whitney statistic, ties counted half); None when
    the targets hold one class only."""
    y = np.asarray(y).reshape(-1).astype(int)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    n1 = int((y == 1).sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return None
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, tied values share their mean rank
    ranks = average_rank[inverse]
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def class_rows(matrix: np.ndarray, names: Sequence[str], *, iou: bool = False) -> list[dict[str, Any]]:
    """Per class: precision, recall, F1, support (and IoU) from a confusion matrix (rows: true)."""
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    rows = []
    for i, name in enumerate(names):
        row = {"class": str(name), "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
               "support": int(support[i]), "predicted": int(predicted[i])}
        if iou:
            union = support[i] + predicted[i] - tp[i]
            row["iou"] = float(tp[i] / union) if union > 0 else None
        rows.append(row)
    return rows


class _Classes:
    """Binary, multi-class, many classes, per-pixel and per-step: a confusion matrix over every
    position, the scores of a binary output (ROC AUC), top-k hits for many classes."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.k = task.classes
        self.matrix = np.zeros((self.k, self.k), dtype=np.int64)
        self.ignored = 0
        self.examples = 0
        self.top_k_hits = 0
        self.scores: list[np.ndarray] = []
        self.truths: list[np.ndarray] = []
        self.kept = 0

    def add(self, y: Any, p: Any) -> None:
        y, p = np.asarray(y), np.asarray(p, dtype=np.float64)
        self.examples += p.shape[0]
        width = p.shape[-1] if p.ndim > 1 else 1
        if width == 1:
            score = p.reshape(-1)
            score = _sigmoid(score) if self.task.from_logits else score
            pred = (score > 0.5).astype(np.int64)
            true = y.reshape(-1)
        else:
            flat = p.reshape(-1, width)
            pred = flat.argmax(axis=-1)
            true = y.reshape(-1, width).argmax(axis=-1) if y.shape == p.shape else y.reshape(-1)
        keep = np.isfinite(true) & (true >= 0) & (true < self.k) & (true == np.round(true))
        self.ignored += int((~keep).sum())
        true = true[keep].astype(np.int64)
        pred = pred[keep]
        np.add.at(self.matrix, (true, pred), 1)
        if self.task.kind == "binary" and self.kept < AUC_LIMIT:
            self.scores.append(score[keep] if width == 1 else _softmaxed(flat[keep], self.task.from_logits)[:, 1])
            self.truths.append(true)
            self.kept += true.size
        if self.task.kind == "many-classes":
            flat = flat[keep]
            own = flat[np.arange(true.size), true]
            self.top_k_hits += int(((flat > own[:, None]).sum(axis=1) < TOP_K).sum())

    def report(self, names: Sequence[str] | None) -> dict[str, Any]:
        names = list(names) if names and len(names) == self.k else [str(i) for i in range(self.k)]
        m = self.matrix
        total = int(m.sum())
        segmentation = self.task.kind == "segmentation"
        rows = class_rows(m, names, iou=segmentation)
        present = [r for r in rows if r["support"] or r["predicted"]]
        support = np.array([r["support"] for r in rows], dtype=np.float64)
        summary: dict[str, Any] = {"accuracy": float(np.trace(m) / total) if total else None}
        if self.task.kind == "sequence":
            summary = {"step accuracy": summary["accuracy"]}
        if segmentation:
            summary = {"pixel accuracy": summary["accuracy"]}
            ious = [r["iou"] for r in present if r["iou"] is not None]
            summary["mean IoU"] = float(np.mean(ious)) if ious else None
        if self.task.kind == "binary":
            positive = rows[1]
            summary.update(precision=positive["precision"], recall=positive["recall"], f1=positive["f1"])
            summary["ROC AUC"] = roc_auc(np.concatenate(self.truths), np.concatenate(self.scores)) if self.truths else None
        else:
            summary["macro F1"] = float(np.mean([r["f1"] for r in present])) if present else None
            summary["weighted F1"] = (float(sum(r["f1"] * r["support"] for r in rows) / support.sum())
                                      if support.sum() else None)
        if self.task.kind == "many-classes":
            summary[f"top-{TOP_K} accuracy"] = self.top_k_hits / total if total else None
        out: dict[str, Any] = {"examples": self.examples, "counted": total, "summary": summary, "classes": rows}
        if self.ignored:
            out["ignored"] = self.ignored
        if self.k <= MATRIX_LIMIT:
            out["confusion_matrix"] = {"labels": names, "matrix": m.tolist()}
        return out


def _softmaxed(flat: np.ndarray, logits: bool) -> np.ndarray:
    if not logits:
        return flat
    e = np.exp(flat - flat.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class _Labels:
    """Multi-label: each of K sigmoid units thresholded at 0.5 (a logit at 0) against a 0/1 target."""

    def __init__(self, task: Task) -> None:
        self.task = task
        k = task.classes
        self.tp, self.fp, self.fn = (np.zeros(k, dtype=np.int64) for _ in range(3))
        self.examples = self.exact = self.wrong = 0

    def add(self, y: Any, p: Any) -> None:
        k = self.task.classes
        p = np.asarray(p, dtype=np.float64).reshape(-1, k)
        y = np.asarray(y).reshape(-1, k) > 0.5
        pred = p > (0.0 if self.task.from_logits else 0.5)
        self.examples += p.shape[0]
        self.tp += (pred & y).sum(axis=0)
        self.fp += (pred & ~y).sum(axis=0)
        self.fn += (~pred & y).sum(axis=0)
        self.exact += int((pred == y).all(axis=1).sum())
        self.wrong += int((pred != y).sum())

    def report(self, names: Sequence[str] | None) -> dict[str, Any]:
        k = self.task.classes
        names = list(names) if names and len(names) == k else [str(i) for i in range(k)]
        precision, recall = _ratio(self.tp, self.tp + self.fp), _ratio(self.tp, self.tp + self.fn)
        f1 = _ratio(2 * precision * recall, precision + recall)
        rows = [{"class": n, "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                 "support": int(self.tp[i] + self.fn[i]), "predicted": int(self.tp[i] + self.fp[i])} for i, n in enumerate(names)]
        tp, fp, fn = (int(a.sum()) for a in (self.tp, self.fp, self.fn))
        micro = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        n = self.examples
        summary = {"exact match": self.exact / n if n else None, "hamming loss": self.wrong / (n * k) if n else None,
                   "micro F1": micro, "macro F1": float(f1.mean()) if k else None}
        return {"examples": n, "summary": summary, "classes": rows}


class _Values:
    """Regression: every target column's MAE, RMSE and R^2, and the residuals (prediction - target)."""

    def __init__(self, task: Task, name: str) -> None:
        self.task, self.name = task, name
        self.y: list[np.ndarray] = []
        self.p: list[np.ndarray] = []

    def add(self, y: Any, p: Any) -> None:
        p = np.asarray(p, dtype=np.float64)
        p = p.reshape(p.shape[0], -1)
        self.p.append(p)
        self.y.append(np.asarray(y, dtype=np.float64).reshape(p.shape))

    def report(self, names: Sequence[str] | None = None) -> dict[str, Any]:
        y, p = np.concatenate(self.y), np.concatenate(self.p)
        r = p - y
        columns = []
        for j in range(y.shape[1]):
            ss_res = float((r[:, j] ** 2).sum())
            ss_tot = float(((y[:, j] - y[:, j].mean()) ** 2).sum())
            r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)  # scikit-learn's force_finite
            columns.append({"column": self.name if y.shape[1] == 1 else f"{self.name}[{j}]",
                            "MAE": float(np.abs(r[:, j]).mean()), "RMSE": float(np.sqrt((r[:, j] ** 2).mean())), "R2": r2})
        flat = r.reshape(-1)
        residuals = {"mean": float(flat.mean()), "std": float(flat.std()), "p5": float(np.percentile(flat, 5)),
                     "median": float(np.median(flat)), "p95": float(np.percentile(flat, 95)),
                     "max |r|": float(np.abs(flat).max())}
        summary = {"MAE": float(np.abs(flat).mean()), "RMSE": float(np.sqrt((flat ** 2).mean()))}
        return {"examples": int(y.shape[0]), "summary": summary, "columns": columns, "residuals": residuals}


class _Reconstruction:
    """Reconstruction (and any per-position continuous output): MSE, MAE, RMSE over every value."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.se = self.ae = 0.0
        self.count = self.examples = 0
        self.worst = 0.0
        self.low, self.high = np.inf, -np.inf

    def add(self, y: Any, p: Any) -> None:
        p = np.asarray(p, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(p.shape)
        d = p - y
        self.examples += p.shape[0]
        self.se += float((d ** 2).sum())
        self.ae += float(np.abs(d).sum())
        self.count += d.size
        self.worst = max(self.worst, float(np.abs(d).max())) if d.size else self.worst
        if y.size:
            self.low, self.high = min(self.low, float(y.min())), max(self.high, float(y.max()))

    def report(self, names: Sequence[str] | None = None) -> dict[str, Any]:
        n = self.count
        summary = {"MSE": self.se / n if n else None, "MAE": self.ae / n if n else None,
                   "RMSE": float(np.sqrt(self.se / n)) if n else None, "max |error|": self.worst}
        out: dict[str, Any] = {"examples": self.examples, "values": n, "summary": summary}
        if n:
            out["target range"] = [self.low, self.high]
        return out


def accumulator(task: Task, name: str = "output") -> Any:
    """A fresh accumulator of one output's report."""
    if task.per_class:
        return _Classes(task)
    if task.kind == "multilabel":
        return _Labels(task)
    if task.kind == "regression":
        return _Values(task, name)
    return _Reconstruction(task)


def report_lines(run_path: Any) -> list[str]:
    """For ``kerun show``: one line per output of each ``eval-*.json`` in a run folder (its split,
    its task, its summary), read back as written; a file that cannot be read is said so."""
    import json
    from pathlib import Path

    lines = []
    for path in sorted(Path(run_path).glob("eval-*.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
            reports = result.get("reports", []) if isinstance(result, dict) else []
        except (OSError, ValueError):
            lines.append(f"  {path.name}: cannot be read")
            continue
        for r in reports if isinstance(reports, list) else []:
            if not isinstance(r, dict) or not isinstance(r.get("summary"), dict):
                continue
            shown = "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in r["summary"].items())
            lines.append(f"  eval {result.get('split')}, {r.get('output')} ({r.get('task')}): {shown}")
    return lines
