"""The import graph of denovo/, training/ and export/ has no cycles.

Every ``import`` counts, also the lazy ones inside functions: a lazy
import hides a circle from Python but not from a reader, and the next
move to module level turns it into an ImportError. Only imports under
``if TYPE_CHECKING:`` are left out (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# folder -> the name it installs as (pyproject.toml's package-dir)
PACKAGES = {"denovo": "denovo", "training": "denovo_training",
            "export": "denovo_export"}

# Circles being fixed elsewhere; each entry is the sorted tuple of the
# modules of one strongly connected component. Empty this list, don't
# add to it.
KNOWN_CYCLES: set = set()  # none left; an entry needs a reason


def _modules() -> dict[str, Path]:
    found = {}
    for folder, name in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([name, *parts[1:]])] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
            or isinstance(test, ast.Attribute)
            and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, skipping ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _targets(node, module: str, is_package: bool, known) -> set[str]:
    """The project modules an import statement loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = module.split(".")
            keep = len(parts) - node.level + (1 if is_package else 0)
            base = ".".join(parts[:keep] + ([base] if base else []))
        names = []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            names.append(sub if sub in known else base)
    out = set()
    for name in names:
        while name and name not in known:  # import a.b.c of a non-module c
            name = name.rpartition(".")[0]
        if name and name != module:
            out.add(name)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        graph[name] = set()
        for node in _imports(tree):
            graph[name] |= _targets(node, name, is_package, modules)
    return graph


def cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], set()

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.add(tuple(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "denovo.core.config" in graph["denovo_training.config"]
    assert "denovo_training.checkpoint" in graph["denovo_export.onnx_export"]
    assert "denovo_export.onnx_export" in graph[
        "denovo_export.autoregressive_export"]  # a relative import
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {
        ("a", "b", "c")}


def test_no_import_cycles():
    found = cycles(import_graph())
    unexpected = sorted(found - KNOWN_CYCLES)
    assert not unexpected, "import cycles:\n" + "\n".join(
        " <-> ".join(c) for c in unexpected)


def test_runtime_never_imports_the_torch_side():
    # denovo finds the torch-side commands through entry points instead.
    graph = import_graph()
    for module, targets in graph.items():
        if module.split(".")[0] == "denovo":
            bad = sorted(t for t in targets
                         if t.split(".")[0] != "denovo")
            assert not bad, f"{module} imports {bad}"


def test_no_import_of_the_folder_names():
    # The folders training/ and export/ install as denovo_training and
    # denovo_export; "import training" works only from a checkout.
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                names = [] if node.level else [node.module or ""]
            for target in names:
                assert target.split(".")[0] not in ("training", "export"), (
                    f"{name}:{node.lineno} imports {target}")


def test_known_cycles_still_exist():
    # A fixed circle must leave the allow-list, so it cannot come back.
    stale = sorted(KNOWN_CYCLES - cycles(import_graph()))
    assert not stale, f"fixed, remove from KNOWN_CYCLES: {stale}"
