"""``kerun explain``: the spec as it will run, every kerun default and Keras argument default filled in."""

from __future__ import annotations

import copy
from typing import Any

from kerun.spec import LoadedSpec
from kerun.spec import catalog

__all__ = ["explained", "origins_text"]


_ENTRY_KEYS = ("name", "type", "use", "inputs")


def _layer_defaults(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with every Keras default filled in, in one order whatever the input's order (entry
    keys, then the class's arguments as Keras declares them, then anything else), so that
    explaining an explained spec gives the same text."""
    info = catalog.lookup("layer", entry.get("type", "")) if entry.get("type") else None
    if info is None:
        return entry
    out = {k: entry[k] for k in _ENTRY_KEYS if k in entry}
    for arg in info.args.values():
        if arg.name in entry:
            out[arg.name] = entry[arg.name]
        elif not arg.required and arg.type != "other" and arg.name not in _BASE_LAYER_ONLY:
            out[arg.name] = copy.deepcopy(arg.default)
    out.update({k: v for k, v in entry.items() if k not in out})
    return out


# Arguments every layer takes; listing them on every entry would hide what matters.
_BASE_LAYER_ONLY = {"name", "dtype", "trainable", "autocast", "input_shape", "batch_input_shape", "batch_size",
                    "weights", "input_dim", "dynamic", "activity_regularizer", "synchronized"}


def explained(loaded: LoadedSpec) -> dict[str, Any]:
    spec = loaded.spec
    data = spec.model_dump(mode="json", exclude_none=True)
    data["name"] = loaded.name
    raw = loaded.doc.data if isinstance(loaded.doc.data, dict) else {}
    raw_models = raw.get("models") if isinstance(raw.get("models"), dict) else {}
    sections = [(data["model"], raw.get("model")), *((m, raw_models.get(n)) for n, m in data.get("models", {}).items())]
    for section, written in sections:
        written_layers = written.get("layers") if isinstance(written, dict) else None
        if isinstance(written_layers, list) and len(written_layers) == len(section["layers"]):
            for entry, given in zip(section["layers"], written_layers):
                # exclude_none dropped what the spec wrote as null (Activation's activation: null)
                entry.update({k: None for k, v in (given.items() if isinstance(given, dict) else ()) if v is None and k not in entry})
        section["layers"] = [_layer_defaults(e) for e in section["layers"]]
        if "outputs" not in section and section["layers"][-1].get("name"):
            section["outputs"] = section["layers"][-1]["name"]
        order = [k for k in ("inputs", "layers", "outputs") if k in section] + [k for k in section if k not in ("inputs", "layers", "outputs")]
        for k in order:  # one key order, whether outputs was written or filled in: explain is a fixed point
            section[k] = section.pop(k)
    targets = data.get("data", {}).get("targets", {})
    if "*" in targets:
        outs = spec.model.output_names()
        if outs:
            targets[outs[0]] = targets.pop("*")
        else:  # an unnamed single output keeps the shorthand: targets is the field description itself
            data["data"]["targets"] = targets.pop("*")
    weights = data.get("train", {}).get("class_weight")
    if isinstance(weights, dict):  # JSON mode wrote the class ids as strings; they are integers
        data["train"]["class_weight"] = {int(k): v for k, v in weights.items()}
    return data


def origins_text(loaded: LoadedSpec) -> str:
    """The resolved spec as YAML (bases merged, ``set:`` and ``--set`` applied, blocks expanded;
    no defaults added), each value followed by the file, line and column it came from."""
    lines: list[str] = []
    _emit(loaded.doc.data, (), 0, lines, loaded.doc)
    width = min(max((len(text) for text, _ in lines), default=0) + 2, 72)
    return "".join(f"{text.ljust(width)}# {where}\n" if where else f"{text}\n" for text, where in lines)


def _flow(value: Any) -> str:
    import yaml

    from kerun.spec import _Dumper

    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=True, width=10**6, allow_unicode=True).strip()
    return text[:-4].rstrip() if text.endswith("\n...") else text


def _simple(value: Any) -> bool:
    if isinstance(value, (dict, list)):
        return not value or (isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value))
    return True


def _emit(node: Any, path: tuple[Any, ...], indent: int, lines: list[tuple[str, str]], doc: Any, lead: str = "") -> None:
    pad = " " * indent
    if isinstance(node, dict):
        for n, (k, v) in enumerate(node.items()):
            head = (lead if n == 0 and lead else pad) + f"{_flow(k)}:"
            where = str(doc.locate(path + (k,)))
            if _simple(v):
                lines.append((f"{head} {_flow(v)}", where))
            else:
                lines.append((head, where))
                _emit(v, path + (k,), indent + 2, lines, doc)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, dict) and v:
                _emit(v, path + (i,), indent + 2, lines, doc, lead=pad + "- ")
            else:
                lines.append((f"{pad}- {_flow(v)}", str(doc.locate(path + (i,)))))
