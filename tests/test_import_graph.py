"""The layout shows the architecture: no import cycles, no private names imported across modules.

Reads every module of core, the bundled plugins and the conformance suite with ``ast`` (nothing is
imported), builds the module graph -- imports inside functions included, since a deferred import
is a cycle all the same; only ``if TYPE_CHECKING:`` imports, which never run, are left out -- and
fails on any strongly connected component of more than one module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "mindinfer": ROOT / "core" / "mindinfer",
    "mindinfer_conformance": ROOT / "conformance" / "mindinfer_conformance",
    **{p.name: p for p in (ROOT / "plugins").glob("*/mindinfer_*") if (p / "__init__.py").is_file()},
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            if "_pb2" in path.name or "testing" in path.relative_to(folder).parts[:-1]:
                continue
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((pkg, *parts))
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, list[str]]]:
    """(imported module, names taken from it) for each import of ``name`` into a known module."""
    is_pkg = path.name == "__init__.py"
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            for sub in names:  # `from . import conv` imports the module conv
                if f"{target}.{sub}" in known:
                    yield f"{target}.{sub}", []
            if target in known:
                yield target, [n for n in names if f"{target}.{n}" not in known]


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.orelse:
                yield sub
                yield from _runtime_nodes(sub)
            continue
        yield node
        yield from _runtime_nodes(node)


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    mods = _modules()
    known = set(mods)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private: list[str] = []
    for name, path in mods.items():
        for target, names in _imports(name, path, known):
            if target == name:
                continue
            # A package's __init__ importing its own modules is how a package is made, not a cycle.
            if not target.startswith(name + "."):
                edges[name].add(target)
            private += [f"{name} imports {target}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    edges, _ = _graph()
    assert len(edges) > 100  # the walk found the packages
    assert _cycles(edges) == []


def test_no_private_names_imported_across_modules() -> None:
    _, private = _graph()
    assert private == []


def test_the_check_finds_a_cycle(tmp_path: Path) -> None:
    """The detector itself: a two-module cycle is reported."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
