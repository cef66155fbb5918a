"""Imports point one way: no circle between files; the circles left between apps are listed.

Read from the source with `ast` (nothing is imported): every `import` and `from ... import`
of a file counts, at the top or inside a function, since a lazy import is still a dependency.
Tests and migrations are left out (tests import everything; migrations name the apps they
depend on). An edge between two apps "closes a circle" when the second app imports back, at
some depth, into the first; KNOWN_APP_CIRCLES lists those that remain today (issue 11 moves
the files that remove them), each as an expected failure: a new one fails the suite, and one
that disappears fails it too (strict xfail), so that the list is shortened.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("mindpulse", "predictions", "training", "monitoring", "privacy")
LEFT_OUT = {"tests", "migrations"}

# (importing app, imported app) edges that sit on an import circle between apps today.
KNOWN_APP_CIRCLES = {
    ("mindpulse", "monitoring"),  # operations (metrics, exports, simulator) live in mindpulse/
    ("mindpulse", "predictions"),
    ("mindpulse", "privacy"),
    ("mindpulse", "training"),
    ("monitoring", "mindpulse"),  # the shared helpers (admin base, errors) live in mindpulse/
    ("monitoring", "predictions"),
    ("monitoring", "training"),  # the registry (model versions) lives in training/
    ("predictions", "mindpulse"),
    ("predictions", "privacy"),
    ("predictions", "training"),
    ("privacy", "mindpulse"),
    ("privacy", "monitoring"),
    ("privacy", "predictions"),
    ("privacy", "training"),
    ("training", "mindpulse"),
    ("training", "monitoring"),
    ("training", "predictions"),
}


def project_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of `packages` under `root`."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if LEFT_OUT & set(parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `module` imports anywhere in its file (itself excluded)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            # `from pkg import name` imports the module pkg.name when there is one.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for name in targets:
            target = name
            while target and target not in modules:  # a name inside a module: the module
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    modules = project_modules(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def app_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    apps: dict[str, set[str]] = {}
    for module, targets in graph.items():
        app = module.split(".")[0]
        apps.setdefault(app, set()).update(t.split(".")[0] for t in targets)
        apps[app].discard(app)
    return apps


def circle_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """The edges whose two ends lie on one circle."""
    component_of = {node: i for i, c in enumerate(circles(graph)) for node in c}
    return {
        (a, b)
        for a, targets in graph.items()
        for b in targets
        if a in component_of and component_of[a] == component_of.get(b)
    }


@functools.cache
def _project() -> dict[str, set[str]]:
    return import_graph(ROOT, APPS)


def _files_behind(edge: tuple[str, str]) -> list[str]:
    return sorted(
        f"{module} -> {target}"
        for module, targets in _project().items()
        for target in targets
        if (module.split(".")[0], target.split(".")[0]) == edge
    )


def test_it_finds_a_circle_through_lazy_and_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.b import g\n    return g\n")
    (package / "b.py").write_text("from . import c\n\ndef g():\n    return c\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from pkg import a, b\n")  # imports them, closes nothing

    graph = import_graph(tmp_path, ("pkg",))

    assert graph["pkg.d"] == {"pkg.a", "pkg.b"}
    assert circles(graph) == [{"pkg.a", "pkg.b", "pkg.c"}]
    assert circle_edges(graph) == {("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a")}


def test_it_reads_every_app_of_the_project():
    graph = _project()
    assert {module.split(".")[0] for module in graph} == set(APPS)
    assert "monitoring.alerts" in graph["monitoring.services"]  # a function-level import
    assert not any(".tests" in module or ".migrations" in module for module in graph)


def test_it_finds_no_import_circle_between_files():
    found = [sorted(component) for component in circles(_project())]
    assert found == [], f"import circles between files: {found}"


def test_it_finds_no_app_circle_beyond_the_known_ones():
    new = circle_edges(app_graph(_project())) - KNOWN_APP_CIRCLES
    details = {f"{a} -> {b}": _files_behind((a, b)) for a, b in sorted(new)}
    assert not new, f"new import circles between apps (edge: the files behind it): {details}"


@pytest.mark.xfail(strict=True, reason="an import circle between apps that remains (issue 11)")
@pytest.mark.parametrize("edge", sorted(KNOWN_APP_CIRCLES), ids="->".join)
def test_it_has_no_known_app_circle_left(edge):
    assert edge not in circle_edges(app_graph(_project())), _files_behind(edge)
