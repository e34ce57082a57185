"""The house rules of the layout, checked on the source: modules stay under 600 lines, no
module-level import circle, dependencies point one way (``jobs`` → ``assets``, ``compute``
→ ``portal``), ``kubesim`` stands alone, and no import hides inside a function."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("portal", "compute", "assets", "jobs", "tracking", "cli", "kubesim")
MAX_LINES = 600
# app -> apps it must never import (at any depth of the module)
FORBIDDEN = {
    "portal": {"compute", "assets", "jobs", "tracking"},
    "compute": {"assets", "jobs", "tracking"},
    "assets": {"compute", "jobs", "tracking"},
    "tracking": {"compute", "assets", "jobs"},
    "kubesim": {"portal", "compute", "assets", "jobs", "tracking", "cli"},
    "cli": {"portal", "compute"},
}
# Where importing a dependent app is the point: the URL table and websocket routing, and the
# command that starts the sandbox simulator.
ALLOWED = {
    "portal/urls.py",
    "portal/routing.py",
    "portal/asgi.py",
    "portal/management/commands/runportal.py",
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports(tree: ast.AST, *, top_level: bool) -> list[tuple[str, int]]:
    """(module imported, line) of the imports at module level (``top_level``) or inside
    functions; ``if TYPE_CHECKING`` blocks count as neither."""
    found = []

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import | ast.ImportFrom) and in_function != top_level:
                if isinstance(child, ast.Import):
                    found.extend((alias.name, child.lineno) for alias in child.names)
                elif child.level == 0 and child.module:
                    base = child.module
                    found.append((base, child.lineno))
                    found.extend((f"{base}.{alias.name}", child.lineno) for alias in child.names)
            visit(child, inner)

    visit(tree, False)
    return found


@pytest.fixture(scope="module")
def source():
    return {name: ast.parse(path.read_text()) for name, path in modules().items()}


def test_no_module_passes_600_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in modules().values()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these into packages: {long}"


def test_no_import_circle(source):
    graph = {
        name: {target for target, _ in imports(tree, top_level=True) if target in source}
        for name, tree in source.items()
    }
    # A package's __init__ importing its own submodules is how a package exposes them.
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict[str, int] = {}
    cycles = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                walk(target, [*stack, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert not cycles, cycles


def test_dependencies_point_one_way(source):
    wrong = []
    for name, tree in source.items():
        app = name.split(".")[0]
        path = str(modules()[name].relative_to(ROOT))
        if path in ALLOWED:
            continue
        for target, line in imports(tree, top_level=True) + imports(tree, top_level=False):
            if target.split(".")[0] in FORBIDDEN.get(app, set()):
                wrong.append(f"{path}:{line} imports {target}")
    assert not wrong, wrong


def test_imports_sit_at_the_top(source):
    """Imports inside functions are kept to ``AppConfig.ready`` (Django's place for them)
    and to a few that must run late, each named here with why."""
    late = {
        # Apps' ready(): models may be imported only once the registry is ready.
        *(f"{app}.apps" for app in ("portal", "compute", "assets", "jobs", "tracking")),
    }
    found = [
        f"{name}:{line} {target}"
        for name, tree in source.items()
        if name not in late
        for target, line in imports(tree, top_level=False)
    ]
    assert len(found) <= len(EXCUSED), "\n".join(found)
    assert set(found) <= EXCUSED, "\n".join(sorted(set(found) - EXCUSED))


EXCUSED: set[str] = set()
