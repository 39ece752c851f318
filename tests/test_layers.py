"""The layers of DESIGN.md, as the code imports them: no import circle anywhere in
``journeyfsm/``, and no import running upward.

The graph is read from the source with :mod:`ast`, not by importing it, so every import
counts wherever it is written: at the top of a module, inside a function (a lazy import is
still a dependency, only a later one), and inside ``if TYPE_CHECKING:`` blocks (an
annotation that names a higher layer is the same upward dependency, only invisible at run
time; the tree is clean with them counted, so they count).

An edge goes to the module an import names: ``from .x import y`` is an edge to ``x``, or to
``x.y`` when ``y`` is a submodule; ``from . import y`` is an edge to the package only when
``y`` is not a submodule.  The packages an import passes through on the way (importing
``journeyfsm.stores._sqlite`` runs ``journeyfsm/stores/__init__.py`` first) are not edges:
every module would then depend on the root ``__init__``, which re-exports the service.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "journeyfsm"

Graph = Mapping[str, set[str]]


# --- the graph --------------------------------------------------------------------------


def module_names(root: Path) -> dict[str, Path]:
    """Every module under the package directory ``root``, by dotted name."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """The dotted names one import statement asks for (modules, or ``module.name``)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    if node.level:
        base = module.split(".")
        # `from . import x` in a package's __init__ is relative to the package itself
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    for alias in node.names:
        yield f"{target}.{alias.name}" if alias.name != "*" else target


def import_graph(root: Path) -> dict[str, set[str]]:
    """``module -> modules it imports`` for every module under ``root``, inside the package."""
    modules = module_names(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for wanted in _imported(node, name, is_package):
                # `from pkg import name`: the submodule pkg.name if there is one, else pkg
                target = wanted if wanted in modules else wanted.rpartition(".")[0]
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def tangles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of ``graph`` that hold a circle: two or more
    modules that all reach each other, or a module importing itself; each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, iterative (deep graphs are fine)
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(c for c in components if len(c) > 1 or c[0] in graph.get(c[0], ()))


def find_cycles(graph: Graph) -> list[list[str]]:
    """One circle per tangle of ``graph``, each as a path ``[a, b, ..., a]``.

    >>> find_cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}})
    [['a', 'b', 'a']]
    """
    return [_circle_through(graph, set(component)) for component in tangles(graph)]


def _circle_through(graph: Graph, component: set[str]) -> list[str]:
    """One shortest circle from the component's first module back to it (breadth first)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    for node in queue:
        for child in sorted(graph.get(node, ())):
            if child == start:
                return [*paths[node], start]
            if child in component and child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    raise AssertionError(f"no circle through {start}")  # pragma: no cover


# --- the layers -------------------------------------------------------------------------

# DESIGN.md's layer list, bottom (definition, runtime: the flat core) to top (cli), as one
# table: each layer may import the layers named in its row and nothing else.
# - the service defines what it needs of a database (service/_store.py: the Store and
#   StoreTransaction protocols, the rows of service/_core.py and _records.py) and the
#   stores implement it, so the stores import the service and the service imports no
#   store: a host hands one in (DESIGN: service/ above stores/).
# - "facade" is the root journeyfsm/__init__.py: it re-exports the core and the service.
# - "main" is journeyfsm/__main__.py (python -m journeyfsm), the only importer of the cli.
# - contrib is framework glue that nothing imports; Django's `manage.py journeyfsm`
#   (contrib/django/management/) counts funnels (analytics) and hands `replay` to the
#   command's own implementation (cli), so contrib sits above them and below main only.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "service": {"core"},
    "stores": {"core", "service"},
    "analytics": {"core"},
    "export": {"core", "analytics"},
    "testing": {"core"},
    # the journey explorer (journeyfsm serve): a web app over a store, drawn by export
    "explorer": {"core", "service", "stores", "analytics", "export"},
    "facade": {"core", "service"},
    "contrib": {"core", "service", "stores", "analytics", "cli", "facade"},
    "cli": {"core", "service", "stores", "analytics", "export", "testing", "explorer", "facade"},
    "main": {"cli"},
}
PACKAGES = {"service", "stores", "analytics", "export", "testing", "explorer", "contrib", "cli"}


def layer(module: str) -> str:
    """The layer of a dotted module name inside ``journeyfsm``."""
    parts = module.split(".")
    if parts == ["journeyfsm"]:
        return "facade"
    if parts == ["journeyfsm", "__main__"]:
        return "main"
    if parts[1] in PACKAGES:
        return parts[1]
    return "core"  # a flat module at the top: _definition, _runtime, ..., templates


def upward_imports(graph: Graph) -> list[str]:
    """Every edge of ``graph`` from a layer to one its row in ``ALLOWED`` does not name."""
    bad = []
    for module, targets in sorted(graph.items()):
        source = layer(module)
        for target in sorted(targets):
            into = layer(target)
            if into != source and into not in ALLOWED[source]:
                bad.append(f"{module} ({source}) imports {target} ({into})")
    return bad


# --- the tests ----------------------------------------------------------------------------


def _describe(graph: Graph) -> str:
    lines = []
    for component in tangles(graph):
        lines.append(" -> ".join(_circle_through(graph, set(component))))
        if len(component) > 2:
            lines.append("    (all tangled: " + ", ".join(component) + ")")
    return "\n".join(lines)


def test_the_package_has_no_import_circle() -> None:
    graph = import_graph(PACKAGE)
    assert not tangles(graph), (
        "import circles (a module importing one that imports it back):\n" + _describe(graph)
    )


def test_no_import_runs_upward_through_the_layers() -> None:
    bad = upward_imports(import_graph(PACKAGE))
    assert not bad, "imports against the layer order of DESIGN.md:\n" + "\n".join(bad)


def test_every_module_is_in_a_known_layer() -> None:
    unknown = sorted(m for m in import_graph(PACKAGE) if layer(m) not in ALLOWED)
    assert unknown == []


def test_the_graph_sees_lazy_relative_and_submodule_imports(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("from ._a import A\nfrom . import sub\n")
    (root / "_a.py").write_text("def f():\n    from .sub import _b\n")
    (root / "sub" / "__init__.py").write_text("from .. import _a\nfrom ..sub._b import x\n")
    (root / "sub" / "_b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import _a\n"
    )
    assert import_graph(root) == {
        "pkg": {"pkg._a", "pkg.sub"},
        "pkg._a": {"pkg.sub._b"},
        "pkg.sub": {"pkg._a", "pkg.sub._b"},
        "pkg.sub._b": {"pkg._a"},
    }
    assert find_cycles(import_graph(root)) == [["pkg._a", "pkg.sub._b", "pkg._a"]]


@pytest.mark.parametrize(
    ("graph", "cycles"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"a"}}, [["a", "a"]]),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b", "a"]]),
        # around a circle of three, with a shortcut and a tail that is not part of it
        ({"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": set(), "e": {"a"}}, [["a", "b", "c", "a"]]),
        # two separate circles are both named
        (
            {"a": {"b"}, "b": {"a"}, "x": {"y"}, "y": {"z"}, "z": {"x"}},
            [["a", "b", "a"], ["x", "y", "z", "x"]],
        ),
    ],
)
def test_find_cycles_names_every_circle(
    graph: dict[str, set[str]], cycles: list[list[str]]
) -> None:
    assert find_cycles(graph) == cycles


def test_upward_imports_are_named() -> None:
    graph = {
        "journeyfsm._runtime": {"journeyfsm.service._sync"},
        "journeyfsm.stores._sqlite": {"journeyfsm._records", "journeyfsm.service._core"},
        "journeyfsm.stores._base": {"journeyfsm.service._store"},
        "journeyfsm.service._sync": {"journeyfsm.stores._base", "journeyfsm.service._core"},
        "journeyfsm.analytics._replay": {"journeyfsm.cli._main"},
    }
    assert upward_imports(graph) == [
        "journeyfsm._runtime (core) imports journeyfsm.service._sync (service)",
        "journeyfsm.analytics._replay (analytics) imports journeyfsm.cli._main (cli)",
        "journeyfsm.service._sync (service) imports journeyfsm.stores._base (stores)",
    ]


def test_the_layers_themselves_have_no_circle() -> None:
    # every import follows ALLOWED, so the packages taken as units (stores, service, ...)
    # have no circle between them either, as long as the table has none
    assert find_cycles(ALLOWED) == []
    assert find_cycles({**ALLOWED, "service": {"core", "stores"}}) == [
        ["service", "stores", "service"]
    ]
