"""``blocks:``: named groups of layer entries with parameters, expanded in place (spec format 1.1).

An entry whose ``type`` names a block is replaced by the block's entries:

- ``$name`` as a whole scalar value becomes the parameter's value, its type kept; a declared
  parameter's ``$name`` inside a longer string is an error, as is ``$name`` of no parameter;
- entry names are local: they become ``<use>_<local>``, and the block's output entry (its last,
  or the one its ``outputs`` names) takes the using entry's name itself, so other entries read the
  block's output as ``<use>``;
- ``input`` (or the names the block lists under ``inputs``) is what feeds the using entry;
- blocks may use blocks, never themselves.

Positions follow the values: an expanded entry's values are located in the block (with a note
naming the use), a substituted value where the parameter was given, and messages show the path the
user wrote (``Document.sources``). Plain data, no TensorFlow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kerun.errors import Location, Problem, SpecError, format_path
from kerun.spec.loader import Document, Path_, copy_plain
from kerun.spec.suggest import did_you_mean

__all__ = ["BLOCK_KEYS", "expand_blocks"]

BLOCK_KEYS = ("description", "params", "inputs", "layers", "outputs")
USE_KEYS = ("name", "type", "inputs")
BLOCK_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_REF = re.compile(r"(.+)\.(\d+)")
MAX_DEPTH = 32


@dataclass
class _Entry:
    """One layer entry on its way out: data, positions relative to the entry, and where the user
    wrote it (``source``; ``subs`` for values that came from a parameter)."""

    data: dict[str, Any]
    values: dict[Path_, Location]
    keys: dict[Path_, Location]
    source: Path_
    subs: dict[Path_, Path_] = field(default_factory=dict)


@dataclass
class _Block:
    name: str
    params: dict[str, Any]
    inputs: list[str]
    entries: list[_Entry]
    output: int


class _Expander:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self._index: dict[Path_, tuple[dict[Path_, Location], dict[Path_, Location]]] = {}
        for table, slot in ((doc.values, 0), (doc.keys, 1)):
            for p, loc in table.items():
                n = _entry_depth(p)
                if n and len(p) >= n:
                    self._index.setdefault(p[:n], ({}, {}))[slot][p[n:]] = loc
        self.blocks = self._read_blocks()

    def fail(self, path: Path_, message: str, *, hint: str | None = None, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, hint=hint, key=key))

    def entry(self, path: Path_, data: dict[str, Any]) -> _Entry:
        values, keys = self._index.get(path, ({}, {}))
        return _Entry(data=copy_plain(data), values=dict(values), keys=dict(keys), source=path)

    # -- the blocks: section -----------------------------------------------------------------

    def _read_blocks(self) -> dict[str, _Block]:
        raw = self.doc.data.get("blocks")
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail(("blocks",), "blocks: expected a mapping of block names to {params, layers}")
            return {}
        from kerun.spec import catalog

        out: dict[str, _Block] = {}
        models = self.doc.data.get("models") if isinstance(self.doc.data.get("models"), dict) else {}
        for name, body in raw.items():
            where = ("blocks", name)
            if not isinstance(name, str) or not BLOCK_NAME.match(name):
                self.fail(where, f"a block name is a letter or '_' then letters, digits or '_'; got {name!r}", key=True)
                continue
            if catalog.lookup("layer", name) is not None or name in models:
                what = "a Keras layer" if name not in models else "a sub-model under models:"
                self.fail(where, f"the block {name!r} has the name of {what}", hint="rename the block", key=True)
                continue
            if not isinstance(body, dict):
                self.fail(where, "a block is a mapping with 'layers:' (and 'params:', 'inputs:', 'outputs:')")
                continue
            unknown = [k for k in body if k not in BLOCK_KEYS]
            for k in unknown:
                self.fail(where + (k,), f"unknown key {k!r} in block {name!r}",
                          hint=did_you_mean(str(k), BLOCK_KEYS) or f"allowed keys: {', '.join(BLOCK_KEYS)}", key=True)
            params = body.get("params") or {}
            if not isinstance(params, dict):
                self.fail(where + ("params",), "params: expected a mapping of parameter names to defaults (null: required)")
                params = {}
            for p in params:
                if not isinstance(p, str) or not BLOCK_NAME.match(p) or p in USE_KEYS:
                    self.fail(where + ("params", p), f"{p!r} cannot be a parameter name",
                              hint="a parameter is a name other than name, type and inputs", key=True)
            inputs = body.get("inputs", ["input"])
            inputs = [inputs] if isinstance(inputs, str) else inputs
            if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
                self.fail(where + ("inputs",), "inputs: expected a name or a list of names of the block's inputs")
                inputs = ["input"]
            layers = body.get("layers")
            if not isinstance(layers, list) or not layers or not all(isinstance(e, dict) for e in layers):
                self.fail(where + ("layers",) if "layers" in body else where,
                          "a block needs 'layers:', a list of layer entries" if "layers" not in body
                          else "layers: expected a list of layer entries (mappings)")
                continue
            entries = [self.entry(where + ("layers", i), e) for i, e in enumerate(layers)]
            output = len(entries) - 1
            if "outputs" in body:
                names = [e.get("name") for e in layers]
                if not isinstance(body["outputs"], str) or body["outputs"] not in names:
                    self.fail(where + ("outputs",), f"outputs: expected the name of one entry of block {name!r}, got {body['outputs']!r}",
                              hint=did_you_mean(str(body["outputs"]), [n for n in names if isinstance(n, str)]))
                else:
                    output = names.index(body["outputs"])
            out[name] = _Block(name, dict(params), list(inputs), entries, output)
        return out

    # -- expansion ---------------------------------------------------------------------------

    def expand(self, entries: list[_Entry], stack: tuple[str, ...], model_inputs: list[str],
               before: list[_Entry] | None = None) -> list[_Entry]:
        """``entries`` with every use of a block replaced by its entries; ``before`` holds what
        precedes them (for a block's own entries: the entries before the block's use)."""
        out: list[_Entry] = []
        counts: dict[str, int] = {}
        pending: str | None = None  # the output of a block that is not its last entry
        for rec in entries:
            if not isinstance(rec.data, dict):  # not a mapping (null, a list): the shape check reports it
                out.append(rec)
                pending = None
                continue
            if pending is not None and "inputs" not in rec.data:
                rec.data["inputs"] = pending
            pending = None
            kind = rec.data.get("type")
            if not isinstance(kind, str) or kind not in self.blocks:
                out.append(rec)
                continue
            if kind in stack:
                cycle = " -> ".join([*stack[stack.index(kind):], kind])
                self.fail(rec.source + ("type",), f"block {kind!r} uses itself: {cycle}",
                          hint="a block cannot contain itself; break the cycle")
                continue
            if len(stack) >= MAX_DEPTH:
                self.fail(rec.source + ("type",), f"blocks are nested more than {MAX_DEPTH} deep")
                continue
            counts[kind] = counts.get(kind, 0) + 1
            body = self.instantiate(rec, self.blocks[kind], f"{kind}_{counts[kind]}", out or (before or []), model_inputs)
            if body is None:
                continue
            block = self.blocks[kind]
            expanded = self.expand(body, (*stack, kind), model_inputs, out or (before or []))
            out.extend(expanded)
            if block.output != len(block.entries) - 1:
                pending = rec.data.get("name") or f"{kind}_{counts[kind]}"
        return out

    def instantiate(self, use: _Entry, block: _Block, default_name: str, before: list[_Entry],
                    model_inputs: list[str]) -> list[_Entry] | None:
        """The block's entries for one use: parameters substituted, names prefixed, inputs wired."""
        name = use.data.get("name") if isinstance(use.data.get("name"), str) else default_name
        use_loc = use.values.get(("type",)) or use.values.get(())
        given = {k: v for k, v in use.data.items() if k not in USE_KEYS}
        ok = True
        for k in given:
            if k not in block.params:
                ok = False
                self._add(use, (k,), f"block {block.name!r} has no parameter {k!r}", key=True,
                          hint=did_you_mean(str(k), list(block.params))
                          or (f"its parameters: {', '.join(block.params)}" if block.params else f"block {block.name!r} takes no parameters"))
        for k, default in block.params.items():
            if default is None and given.get(k) is None:
                ok = False
                self._add(use, ("type",), f"block {block.name!r} needs the parameter {k!r}",
                          hint=f"add {k}: VALUE to this entry")
        refs = self._input_refs(use, block, name, before, model_inputs)
        if not ok or refs is None:
            return None
        params: dict[str, tuple[Any, dict[Path_, Location], Path_]] = {}
        for k, default in block.params.items():
            if k in given:
                n = 1
                pos = {p[n:]: loc for p, loc in use.values.items() if p[:n] == (k,)}
                params[k] = (given[k], pos, use.source + (k,))
            else:
                src = ("blocks", block.name, "params", k)
                pos = {p[len(src):]: loc for p, loc in self.doc.values.items() if p[: len(src)] == src}
                params[k] = (default, pos, src)
        note = f"in block {block.name!r}, used by {format_path(self.doc.source_path(use.source))} ({name}) at {use_loc}"
        local = {e.data.get("name"): i for i, e in enumerate(block.entries) if isinstance(e.data.get("name"), str)}
        renamed: dict[str, str] = {}
        counts: dict[str, int] = {}
        for i, e in enumerate(block.entries):
            own = e.data.get("name")
            if i == block.output:
                new = name
            elif isinstance(own, str):
                new = f"{name}_{own}"
            elif isinstance(e.data.get("type"), str) and e.data["type"] in self.blocks:
                counts[e.data["type"]] = counts.get(e.data["type"], 0) + 1
                new = f"{name}_{e.data['type']}_{counts[e.data['type']]}"
            else:
                continue
            renamed[own if isinstance(own, str) else f"#{i}"] = new
        body: list[_Entry] = []
        for i, proto in enumerate(block.entries):
            rec = _Entry(data=copy_plain(proto.data),
                         values={p: _noted(loc, note) for p, loc in proto.values.items()},
                         keys={p: _noted(loc, note) for p, loc in proto.keys.items()},
                         source=proto.source)
            self._substitute(rec, rec.data, (), params, block)
            own = rec.data.get("name")
            key = own if isinstance(own, str) else f"#{i}"
            if key in renamed:
                rec.data["name"] = renamed[key]
            self._rewire(rec, block, local, renamed, refs, first=i == 0, explicit=use.data.get("inputs") is not None)
            body.append(rec)
        return body

    def _add(self, rec: _Entry, sub: Path_, message: str, *, hint: str | None = None, key: bool = False) -> None:
        table = rec.keys if key else rec.values
        loc = table.get(sub) or rec.values.get(sub) or rec.values.get(("type",)) or rec.values.get(()) or self.doc.locate(rec.source)
        self.problems.append(Problem(message=message, location=loc, path=self.doc.source_path(rec.source + sub), hint=hint))

    def _input_refs(self, use: _Entry, block: _Block, name: str, before: list[_Entry], model_inputs: list[str]) -> list[str] | None:
        given = use.data.get("inputs")
        n = len(block.inputs)
        if given is not None:
            refs = [given] if isinstance(given, str) else given
            if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
                self._add(use, ("inputs",), f"block {block.name!r} takes its inputs as a name or a list of names")
                return None
            if len(refs) != n:
                self._add(use, ("inputs",), f"block {block.name!r} takes {n} input{'s' if n != 1 else ''} ({', '.join(block.inputs)}), got {len(refs)}")
                return None
            return list(refs)
        if n != 1:
            self._add(use, ("type",), f"block {block.name!r} takes {n} inputs ({', '.join(block.inputs)}); give them with inputs: [...]")
            return None
        if not before:
            if len(model_inputs) == 1:
                return [model_inputs[0]]
            return ["input"]  # the graph check reports the missing inputs of the first entry
        prev = before[-1]
        if not isinstance(prev.data, dict):  # not a mapping: the shape check reports that entry
            return ["input"]
        if not isinstance(prev.data.get("name"), str):
            prev.data["name"] = f"{name}_input"  # the block reads it by name
        return [prev.data["name"]]

    def _substitute(self, rec: _Entry, node: Any, sub: Path_, params: dict[str, Any], block: _Block) -> Any:
        if isinstance(node, dict):
            for k in list(node):
                node[k] = self._substitute(rec, node[k], sub + (k,), params, block)
            return node
        if isinstance(node, list):
            for i in range(len(node)):
                node[i] = self._substitute(rec, node[i], sub + (i,), params, block)
            return node
        if not isinstance(node, str) or "$" not in node:
            return node
        whole = _PARAM.fullmatch(node)
        if whole:
            pname = whole.group(1)
            if pname not in params:
                self._add(rec, sub, f"block {block.name!r} has no parameter {pname!r}",
                          hint=did_you_mean(pname, list(params)) or (f"its parameters: {', '.join(params)}" if params else None))
                return node
            value, pos, src = params[pname]
            n = len(sub)
            for table in (rec.values, rec.keys):
                for p in [p for p in table if p[:n] == sub and (p != sub or table is rec.values)]:
                    del table[p]
            for p, loc in pos.items():
                rec.values[sub + p] = loc
            rec.subs[sub] = src
            return copy_plain(value)
        for m in _PARAM.finditer(node):
            if m.group(1) in params:
                self._add(rec, sub, f"${m.group(1)} inside a longer string is not replaced; a parameter is a whole value",
                          hint=f"pass the whole string as the parameter and write the value as ${m.group(1)}")
                break
        return node

    def _rewire(self, rec: _Entry, block: _Block, local: dict[str, int], renamed: dict[str, str], refs: list[str],
                *, first: bool, explicit: bool) -> None:
        """References inside a block: its inputs -> what feeds the use; its entries -> their new names."""

        def fix(ref: Any, sub: Path_) -> Any:
            if not isinstance(ref, str):
                return ref
            m = _REF.fullmatch(ref)
            base, suffix = (m.group(1), f".{m.group(2)}") if m else (ref, "")
            if base in block.inputs:
                return refs[block.inputs.index(base)] + suffix
            if base in renamed:
                return renamed[base] + suffix
            if base in local:
                return base + suffix
            known = [*block.inputs, *local]
            self._add(rec, sub, f"{ref!r} names no input or entry of block {block.name!r}",
                      hint=did_you_mean(base, known) or f"inside a block, entries read its inputs ({', '.join(block.inputs)}) or its own entries")
            return ref

        data = rec.data
        inputs = data.get("inputs")
        if inputs is None:
            if first and explicit and len(refs) == 1:
                data["inputs"] = refs[0]
            elif first and len(refs) > 1:
                self._add(rec, (), f"the first entry of block {block.name!r} needs 'inputs:', the block has {len(refs)} inputs")
        elif isinstance(inputs, str):
            data["inputs"] = fix(inputs, ("inputs",))
        elif isinstance(inputs, list):
            data["inputs"] = [fix(r, ("inputs", i)) for i, r in enumerate(inputs)]
        elif isinstance(inputs, dict):
            for k, v in inputs.items():
                inputs[k] = [fix(r, ("inputs", k, i)) for i, r in enumerate(v)] if isinstance(v, list) else fix(v, ("inputs", k))
        if "use" in data:
            data["use"] = fix(data["use"], ("use",))


def _noted(loc: Location, note: str) -> Location:
    return Location(loc.file, loc.line, loc.column, note if not loc.note else f"{note}; {loc.note}")


def _entry_depth(p: Path_) -> int:
    """How long the path of the layer entry holding ``p`` is (0: not inside a layer entry)."""
    if len(p) >= 3 and p[0] == "model" and p[1] == "layers":
        return 3
    if len(p) >= 4 and p[0] in ("models", "blocks") and p[2] == "layers":
        return 4
    return 0


def _layer_lists(data: dict[str, Any]) -> list[tuple[Path_, list[Any], list[str]]]:
    out = []
    model = data.get("model")
    if isinstance(model, dict) and isinstance(model.get("layers"), list):
        out.append((("model", "layers"), model["layers"], _input_names(model)))
    models = data.get("models")
    if isinstance(models, dict):
        for name, sub in models.items():
            if isinstance(sub, dict) and isinstance(sub.get("layers"), list):
                out.append((("models", name, "layers"), sub["layers"], _input_names(sub)))
    return out


def _input_names(model: dict[str, Any]) -> list[str]:
    inputs = model.get("inputs")
    return [str(k) for k in inputs] if isinstance(inputs, dict) else []


def expand_blocks(doc: Document) -> Document:
    """A new document with every use of a block expanded and ``blocks:`` removed; ``doc`` is
    left as it was. Raises :class:`SpecError` with every problem found."""
    data = doc.data
    if not isinstance(data, dict) or "blocks" not in data:
        return doc
    ex = _Expander(doc)
    new = Document(data={k: copy_plain(v) for k, v in data.items() if k != "blocks"}, file=doc.file,
                   values={p: loc for p, loc in doc.values.items() if p[:1] != ("blocks",)},
                   keys={p: loc for p, loc in doc.keys.items() if p[:1] != ("blocks",)},
                   sources=dict(doc.sources))
    for path, entries, model_inputs in _layer_lists(data):
        records = [ex.entry(path + (i,), e) if isinstance(e, dict) else _Entry(e, {}, {}, path + (i,)) for i, e in enumerate(entries)]
        out = ex.expand(records, (), model_inputs)
        if all(r.source == path + (j,) and not r.subs for j, r in enumerate(out)) and len(out) == len(entries):
            continue
        parent: Any = new.data
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = [r.data for r in out]
        n = len(path)
        for table in (new.values, new.keys):
            for p in [p for p in table if p[:n] == path and len(p) > n]:
                del table[p]
        for j, r in enumerate(out):
            at = path + (j,)
            for sub, loc in r.values.items():
                new.values[at + sub] = loc
            for sub, loc in r.keys.items():
                new.keys[at + sub] = loc
            if r.source != at:
                new.sources[at] = r.source
            for sub, src in r.subs.items():
                new.sources[at + sub] = src
    if ex.problems:
        raise SpecError.from_problems(ex.problems)
    return new
