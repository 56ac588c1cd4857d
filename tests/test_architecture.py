"""The import graph of outreach/, web/ and workers/ has no cycles.

import-linter's layers contract (pyproject.toml, run by `make lint`) states which
package may use which; this test adds what a contract cannot: no two modules may
need each other, directly or through others, at any depth. grimp reads imports
inside functions too, so a lazy import does not hide a cycle. Importing
`a.b.c` runs `a/__init__.py` and `a/b/__init__.py` first, so those count as
imported as well: a package's `__init__` that imports its own submodules closes a
loop with any of them that imports a sibling through the package.
"""

from __future__ import annotations

import grimp

PACKAGES = ("outreach", "web", "workers")


def _import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    edges: dict[str, set[str]] = {module: set() for module in graph.modules}
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported not in edges:
                continue
            edges[importer].add(imported)
            # The packages that `imported` sits in run first, unless the importer is inside them.
            parts = imported.split(".")
            for depth in range(1, len(parts)):
                package = ".".join(parts[:depth])
                if not (importer == package or importer.startswith(package + ".")):
                    edges[importer].add(package)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_sees_a_loop_through_a_package_init() -> None:
    # web/__init__ imports web.views.board, which imports web.views.oauth, which
    # imports web: the shape this project once had.
    edges = {
        "web": {"web.views.board"},
        "web.views.board": {"web.views.oauth"},
        "web.views.oauth": {"web"},
        "web.forms": set(),
    }
    assert _cycles(edges) == [["web", "web.views.board", "web.views.oauth"]]
    edges["web.views.oauth"] = {"web.forms"}
    assert _cycles(edges) == []


def test_no_module_needs_another_that_needs_it_back() -> None:
    edges = _import_graph()
    # The graph really holds the three packages, not an empty import path.
    assert {"outreach.transitions", "web.app", "workers.jobs"} <= edges.keys()
    cycles = _cycles(edges)
    described = [
        " -> ".join(cycle)
        + ":\n"
        + "\n".join(
            f"    {module} imports {', '.join(sorted(edges[module] & set(cycle)))}"
            for module in cycle
        )
        for cycle in cycles
    ]
    assert not cycles, "import cycles:\n" + "\n".join(described)
