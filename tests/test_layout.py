"""The code's layout holds: mlcore imports nothing from Django, and no module of the project imports, however
indirectly or lazily, a module that imports it back."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("classifier_site", "classifier", "chat", "mlcore")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                parts = path.relative_to(ROOT).with_suffix("").parts
                modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_names(module: str, path: Path) -> set[str]:
    """Every name an import statement anywhere in the module reaches for, inside functions too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                package = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{package}.{base}" if base else package
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()

    def project_module(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    return {
        module: {
            found for name in imported_names(module, path) if (found := project_module(name)) not in (None, module)
        }
        for module, path in modules.items()
    }


def cycle_from(graph: dict[str, set[str]]) -> list[str] | None:
    """One chain of imports that comes back to where it started, or None."""
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        trail.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                return trail[trail.index(imported) :] + [imported]
            if imported not in state and (found := visit(imported)):
                return found
        state[module] = "done"
        trail.pop()
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_mlcore_imports_nothing_from_django():
    graph_modules = project_modules()
    mlcore = {name: path for name, path in graph_modules.items() if name.startswith("mlcore")}
    assert len(mlcore) >= 15, sorted(mlcore)
    offending = {
        name: sorted(imported for imported in imported_names(name, path) if imported.split(".")[0] == "django")
        for name, path in mlcore.items()
    }
    assert not {name: found for name, found in offending.items() if found}
    assert not any(imported.startswith(("classifier", "chat")) for name in mlcore for imported in import_graph()[name])


def test_no_module_imports_a_module_that_imports_it_back():
    graph = import_graph()
    assert sum(map(len, graph.values())) >= 100, "the imports were not read"
    assert cycle_from(graph) is None, " -> ".join(cycle_from(graph))


def test_a_cycle_would_be_found():
    assert cycle_from({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle_from({"a": {"b"}, "b": set()}) is None
