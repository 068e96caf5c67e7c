"""The layering of kerun's packages, read from the source (no module is imported).

Every ``import`` in kerun/ counts, also those inside functions (imported on first use); only those
under ``if TYPE_CHECKING:`` do not, since they never run. The table is the one of
shared/notes/design-review.md: a package imports only the packages below it, and no modules import
each other in a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kerun"

# what each layer may import from kerun (besides itself); prefixes of module names
GROUND = ("kerun.errors", "kerun.safeio", "kerun.tfenv")  # the standard library only
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "kerun.errors": (),
    "kerun.safeio": (),
    "kerun.tfenv": (),
    "kerun.spec": ("kerun.errors", "kerun.safeio"),
    "kerun.model": ("kerun.spec", *GROUND),
    "kerun.data": ("kerun.spec", *GROUND),
    "kerun.run": ("kerun.spec", "kerun.model", "kerun.data", *GROUND),
    "kerun.orchestrate": ("kerun.spec", "kerun.run.rundir", "kerun.run.plots", "kerun.run.tracking", *GROUND),  # tracking: TF-free
    "kerun.interop": ("kerun.spec", "kerun.model", "kerun.run.rundir", "kerun.run.evaluate", *GROUND),
    "kerun.console": ("kerun.errors", "kerun.run.compare"),  # rich renderers of result types (compare's NOT_SET)
    "kerun.cli_app": ("kerun.errors", "kerun.console", "kerun.cli_plain"),  # the app and its one error handler
    "kerun.cli_plain": ("kerun.errors", "kerun.console", "kerun.spec"),  # the Typer-free part: validate's work
    "kerun.entry": ("kerun",),  # the console script: validate's fast path, else kerun.cli
    "kerun.cli": ("kerun",),
    "kerun.cli_interop": ("kerun",),  # kerun import and kerun export, registered on the same app
    "kerun.__main__": ("kerun.entry",),
    "kerun": ("kerun.errors",),  # kerun/__init__.py; the rest of the API is imported on first use (_LAZY)
}

# the child side of orchestrate: the processes the parent starts, which train
ORCHESTRATE_CHILDREN = {"kerun.orchestrate.check_worker", "kerun.orchestrate.worker"}
CHILD_MAY_IMPORT = ("kerun.run", "kerun.model", "kerun.data")

THIRD_PARTY_FORBIDDEN = {
    "kerun.errors": ("tensorflow", "keras", "pydantic", "yaml", "numpy"),
    "kerun.spec": ("tensorflow", "keras", "numpy", "pandas"),
    "kerun.orchestrate": ("tensorflow", "keras"),  # the parent side (children excluded below)
    "kerun.console": ("tensorflow", "keras"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports when it runs (imports inside functions included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                found.add(mod)
                # `from kerun.spec import loader` imports the module kerun.spec.loader
                for a in child.names:
                    if (PACKAGE.parent / (mod.replace(".", "/") + "/" + a.name + ".py")).is_file():
                        found.add(f"{mod}.{a.name}")
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
IMPORTS = {name: imports_of(path) for name, path in MODULES.items()}


def layer_of(name: str) -> str:
    best = max((k for k in MAY_IMPORT if name == k or name.startswith(k + ".")), key=len, default=None)
    if best is None:
        raise AssertionError(f"{name} belongs to no layer of the table: add it to MAY_IMPORT")
    return best


def _inside(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def kerun_imports(name: str) -> set[str]:
    """The kerun modules ``name`` imports. Its own ancestors (``from kerun import __version__``,
    ``from kerun.spec import catalog`` inside kerun/spec/) are left out: a package is always
    imported before any of its modules, so importing it again adds neither a layer nor a cycle."""
    ancestors = {name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1)}
    return {m for m in IMPORTS[name] if (m == "kerun" or m.startswith("kerun.")) and m not in ancestors}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_only_the_layers_below_it(name: str) -> None:
    layer = layer_of(name)
    allowed = (layer, *MAY_IMPORT[layer])
    if name in ORCHESTRATE_CHILDREN:
        allowed += CHILD_MAY_IMPORT
    bad = sorted(m for m in kerun_imports(name) if not _inside(m, allowed))
    assert not bad, f"{name} ({layer}) imports {', '.join(bad)}; it may import {', '.join(allowed)}"
    forbidden = THIRD_PARTY_FORBIDDEN.get(layer, ())
    if name in ORCHESTRATE_CHILDREN:
        forbidden = ()
    third = sorted(m for m in IMPORTS[name] if m.split(".")[0] in forbidden)
    assert not third, f"{name} imports {', '.join(third)}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among kerun's modules, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def test_no_import_cycles_lazy_imports_included() -> None:
    # a package's __init__ importing its own modules is not a cycle: its modules import the
    # modules they need, never their package
    graph = {n: {m for m in kerun_imports(n) if m in MODULES and m != n} for n in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checker_sees_lazy_imports_and_cycles(tmp_path: Path) -> None:
    """The test itself can fail: an import inside a function counts, one under TYPE_CHECKING not."""
    src = PACKAGE / "spec" / "_layers_probe.py"
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import kerun.run\n"
                   "def f():\n    from kerun.model import model\n    import tensorflow\n", encoding="utf-8")
    try:
        found = imports_of(src)
    finally:
        src.unlink()
    assert "kerun.model.model" in found and "tensorflow" in found and "kerun.run" not in found
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_over_500_lines() -> None:
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, f"modules over 500 lines: {long}"
