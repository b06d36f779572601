"""The package's shape: no import cycle, no oversized module, and grading that reads no other library's private attributes.

Read from the source files (ast), so these run in well under a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "persistlab"
MAX_LINES = 400
"""One job per module keeps each readable in one sitting."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """The persistlab modules ``path`` imports anywhere in its code (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in MODULES}
    return found


def test_no_import_cycle() -> None:
    graph = {name: _imports(path) - {name} for name, path in MODULES.items()}
    for name in graph:  # a package may import its own submodules (re-exports); they must not import it back
        graph[name] -= (
            {m for m in graph[name] if m.startswith(name + ".")} if MODULES[name].name == "__init__.py" else set()
        )
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        for target in graph[name]:
            if target in path:
                cycles.append(path[path.index(target) :] + [target])
            elif len(path) < len(graph):
                visit(target, path + [target])

    for name in graph:
        visit(name, [name])
    assert not cycles, f"import cycles: {sorted({' -> '.join(c) for c in cycles})[:5]}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by job"


def _own_names(tree: ast.Module) -> set[str]:
    """Names bound in a module to persistlab modules (``from persistlab import meter``), whose privates are the course's own."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("persistlab"):
            names |= {alias.asname or alias.name for alias in node.names if f"{node.module}.{alias.name}" in MODULES}
        elif isinstance(node, ast.Import):
            names |= {alias.asname or alias.name for alias in node.names if alias.name.startswith("persistlab")}
    return names


PUBLIC_UNDERSCORED = {"_exit", "_repr_mimebundle_", "_repr_html_", "_ipython_display_"}
"""Underscored names that are public API: ``os._exit`` and IPython's display protocol."""


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_UNDERSCORED


def private_reads(source: str) -> list[str]:
    """Every ``x._name`` (and ``getattr(x, "_name")``) whose ``x`` is not ``self``, ``cls`` or a persistlab module."""
    tree = ast.parse(source)
    allowed = {"self", "cls"} | _own_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            receiver = node.value
            if not (isinstance(receiver, ast.Name) and receiver.id in allowed):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
        ):
            name = str(node.args[1].value) if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else ""
            if _private(name):
                target = node.args[0]
                if not (isinstance(target, ast.Name) and target.id in allowed):
                    found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_private_attribute_check_finds_what_it_should() -> None:
    source = (
        "from persistlab.learning import meter\nimport httpx\n"
        "def f(model, client):\n"
        "    a = model._http_client\n    b = getattr(client, '_transport', None)\n    c = Settings._embed_model\n"
        "    d = self._lock\n    e = meter._on_response\n    g = type(x).__name__\n"
    )
    assert [line.split(":")[0] for line in private_reads(source)] == ["line 4", "line 5", "line 6"]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_reads_a_private_attribute_of_another_library(path: Path) -> None:
    assert private_reads(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", sorted((PACKAGE / "grading").glob("*.py")), ids=lambda p: p.name)
def test_grading_recompiles_no_other_librarys_source(path: Path) -> None:
    from persistlab.grading.integrity import GUARDED_MODULES

    assert all(name == "persistlab" or name.startswith("persistlab.") for name in GUARDED_MODULES)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    compiles = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "compile"
    ]
    assert not compiles or path.name == "integrity.py", f"{path.name} compiles source"
