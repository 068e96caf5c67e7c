"""A sweep's search space (``sweep.space``): its entries, and the variants of the spec checked
before the first trial, without TensorFlow (about 3 ms each).

- ``grid``: every combination (a grid is finite; more than :data:`MAX_GRID` is refused).
- ``random`` and ``bayesian``: the values a range can reach are infinite, so kerun checks what
  the schema can tell apart: every choice, and both ends of every range (``int``: low and high;
  ``uniform``/``log_uniform``: low and high), each varied one at a time with the other entries at
  their first value, plus the corner with every entry at its last value. Schema rules are
  per-value bounds (positive, at most 1, an integer, a known name), so a range valid at both ends
  is valid inside; what one-at-a-time misses is an interaction of two entries, which the corners
  catch only partly (documented).

The first invalid variant's error is placed at the space entry's file, line and column.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Iterator

from kerun.errors import Location, Problem, SpecError, format_path
from kerun.spec import LoadedSpec, load_spec

__all__ = ["MAX_GRID", "Param", "check_variants", "overrides_for", "parse_space", "variants"]

MAX_GRID = 5000
_PRIMITIVE = (type(None), bool, int, float, str)


@dataclass
class Param:
    """One ``sweep.space`` entry: a dotted path of the spec and the values it may take."""

    key: str
    kind: str  # choice | uniform | log_uniform | int
    choices: list[Any] = field(default_factory=list)
    low: float = 0.0
    high: float = 0.0
    location: Location | None = None

    @property
    def encoded(self) -> bool:
        """Optuna's categorical values must be primitives: other choices travel as JSON text."""
        return self.kind == "choice" and not all(isinstance(c, _PRIMITIVE) for c in self.choices)

    def encode(self, value: Any) -> Any:
        return json.dumps(value, sort_keys=True) if self.encoded else value

    def decode(self, value: Any) -> Any:
        if self.encoded:
            return json.loads(value)
        if self.kind == "int":
            return int(value)
        return value

    def grid(self) -> list[Any]:
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        raise SpecError(
            f"a grid sweep needs values it can list; {self.kind}: [{self.low}, {self.high}] is a continuous range",
            location=self.location,
            path=("sweep", "space", self.key),
            hint="list the values (a plain list, or choice: [...]) or an int range, or use method: random or bayesian",
        )

    def extremes(self) -> list[Any]:
        """The values the pre-flight check tries for a random or bayesian sweep."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]


def parse_space(loaded: LoadedSpec) -> list[Param]:
    sweep = loaded.spec.sweep
    if sweep is None:
        raise SpecError(
            "this spec has no sweep section",
            location=Location(str(loaded.path)),
            hint="add sweep: {method: random, trials: 10, space: {compile.optimizer.learning_rate: {log_uniform: [1e-4, 1e-2]}}}",
        )
    params = []
    for key, entry in sweep.space.items():
        loc = loaded.doc.locate(("sweep", "space", key), key=True)
        if isinstance(entry, list):
            params.append(Param(key, "choice", choices=list(entry), location=loc))
        elif entry.choice is not None:
            params.append(Param(key, "choice", choices=list(entry.choice), location=loc))
        else:
            kind = next(k for k in ("uniform", "log_uniform", "int") if getattr(entry, k) is not None)
            low, high = getattr(entry, kind)
            params.append(Param(key, kind, low=low, high=high, location=loc))
    return params


def overrides_for(values: dict[str, Any]) -> list[str]:
    """``--set`` arguments for a trial (JSON is YAML that reads back to the same value)."""
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]


def variants(params: list[Param], method: str) -> Iterator[dict[str, Any]]:
    if method == "grid":
        grids = [p.grid() for p in params]
        total = 1
        for g in grids:
            total *= len(g)
        if total > MAX_GRID:
            raise SpecError(
                f"the grid has {total} combinations; kerun runs grids of at most {MAX_GRID}",
                location=params[0].location,
                path=("sweep", "space"),
                hint="use fewer values, or method: random or bayesian with a number of trials",
            )
        for combo in itertools.product(*grids):
            yield {p.key: v for p, v in zip(params, combo)}
        return
    seen: set[str] = set()
    base = {p.key: p.extremes()[0] for p in params}
    candidates = [base, {p.key: p.extremes()[-1] for p in params}]
    for p in params:
        for value in p.extremes():
            candidates.append({**base, p.key: value})
    for c in candidates:
        token = json.dumps(c, sort_keys=True, default=str)
        if token not in seen:
            seen.add(token)
            yield c


def check_variants(loaded: LoadedSpec, params: list[Param], method: str) -> int:
    """Check the variants of the spec the sweep may train (see the module's docstring); return how
    many were checked; raise the first invalid variant's :class:`SpecError`, placed at the space
    entries."""
    count = 0
    for values in variants(params, method):
        count += 1
        try:
            load_spec(loaded.path, [*loaded.overrides, *overrides_for(values)], root=loaded.root)
        except SpecError as exc:
            raise _variant_error(exc, params, values) from None
    return count


def _variant_error(exc: SpecError, params: list[Param], values: dict[str, Any]) -> SpecError:
    by_origin = {f"--set {o}": p for o, p in zip(overrides_for(values), params)}
    shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items())
    problems = []
    for prob in exc.problems:
        param = by_origin.get(prob.location.file if prob.location else "")
        if param is None:  # the value is fine where it goes but breaks something elsewhere
            param = next((p for p in params if prob.path[:1] and p.key.split(".")[0] == prob.path[0]), params[0])
        where = f"{format_path(prob.path)}: " if prob.path else ""
        hint = (prob.hint + "\n" if prob.hint else "") + f"the variant {shown} makes an invalid spec; change this space entry"
        problems.append(Problem(
            message=f"{param.key}={json.dumps(values[param.key])} is invalid: {where}{prob.message}",
            location=param.location,
            path=("sweep", "space", param.key),
            hint=hint,
        ))
    return SpecError.from_problems(problems)
