"""The shape of the imports: no cycle, the domain at the bottom, no table filled by import.

Every module of the installed `payledger` package is parsed (not trusted to behave when
imported): the imports its body runs when the module is loaded (module level, class
bodies, try/if blocks; not `if TYPE_CHECKING:` and not function bodies) give the graph
of the package's own modules (DESIGN.md §1, STYLE.md item 8).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

import payledger

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = {"sqlalchemy", "duckdb", "pyarrow", "psycopg", "kafka", "urllib3", "aiohttp",
                "httpx", "requests"}
OLD_TABLES = ("HANDLERS", "BALANCE_HANDLERS", "INVOICE_OUTCOME_HOOKS", "TIMED", "AGGREGATES")
MUTATORS = {"update", "setdefault", "append", "extend", "add", "insert", "__setitem__"}


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    imports: set[str] = field(default_factory=set)  # the package's modules it imports
    typing_only: set[str] = field(default_factory=set)  # ... under `if TYPE_CHECKING:`
    external: set[str] = field(default_factory=set)  # top-level names of other packages


@cache
def modules() -> dict[str, Module]:
    """Every module of the installed package: a walk from `payledger`, and from each
    package pyproject.toml lists (an editable install maps domain/, adapters/, ... from
    folders beside `payledger/`, which a walk from `payledger.__path__` does not see)."""
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    names = {"payledger"}
    for package in listed:
        names.add(package)
        root = importlib.import_module(package)
        names.update(info.name for info in pkgutil.walk_packages(root.__path__, f"{package}."))
    found = {}
    for name in sorted(names):
        spec = importlib.util.find_spec(name)
        assert spec is not None, name
        assert spec.origin is not None, name
        path = Path(spec.origin)
        found[name] = Module(name, path, spec.submodule_search_locations is not None,
                             ast.parse(path.read_text(), str(path)))
    for module in found.values():
        _read_imports(module, found)
    return found


def _run_at_import(body: list[ast.stmt], *, typing: bool = False) -> list[ast.stmt]:
    """The statements of `body` that run when the module is loaded, nested ones included
    (with `typing`, those under `if TYPE_CHECKING:` as well)."""
    run: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            run.extend(_run_at_import((node.body if typing else []) + node.orelse,
                                      typing=typing))
            continue
        run.append(node)
        for name in ("body", "orelse", "finalbody"):
            nested = getattr(node, name, None)
            if isinstance(nested, list):
                run.extend(_run_at_import([n for n in nested if isinstance(n, ast.stmt)],
                                          typing=typing))
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                run.extend(_run_at_import(handler.body, typing=typing))
    return run


def _read_imports(module: Module, known: dict[str, Module]) -> None:
    module.imports = _imports(module, known, _run_at_import(module.tree.body))
    every = _imports(module, known, _run_at_import(module.tree.body, typing=True))
    module.typing_only = every - module.imports


def _imports(module: Module, known: dict[str, Module], nodes: list[ast.stmt]) -> set[str]:
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    imports = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            # `from x import y`: the module x.y when y is one, else x itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target == "payledger" or target.startswith("payledger."):
                while target not in known:  # `import payledger.x.y` of a name inside x
                    target = target.rpartition(".")[0]
                imports.add(target)
            else:
                module.external.add(target.split(".")[0])
    return imports


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A path a -> ... -> a in `graph`, or None."""
    state: dict[str, str] = {}  # "open" while on the path, "done" once fully explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def closure(start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in modules()[todo.pop()].imports - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


# -- the walk itself -------------------------------------------------------------------


def test_the_walk_sees_every_layer_and_reads_relative_and_module_imports():
    found = modules()
    for layer in ("payledger.domain.invoice", "payledger.adapters.store",
                  "payledger.handlers.invoice", "payledger.bootstrap", "payledger.cli.main"):
        assert layer in found
    # `from payledger.domain import commands as c` is the module, not the package
    assert "payledger.domain.commands" in found["payledger.handlers.invoice"].imports
    tree = ast.parse("from . import money\nfrom .commands import base\nfrom .. import settings")
    probe = Module("payledger.domain.invoice", Path("x"), False, tree)
    _read_imports(probe, found)
    assert probe.imports == {"payledger.domain.money", "payledger.domain.commands.base",
                             "payledger.settings"}


def test_find_cycle_reports_the_path():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


# -- the rules ---------------------------------------------------------------------------


def test_no_import_cycle_in_the_package():
    cycle = find_cycle({name: module.imports for name, module in modules().items()})
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_cycle_even_counting_the_imports_made_for_type_checkers_only():
    """An `if TYPE_CHECKING:` import runs for mypy only, but a cycle through one still
    means two modules that cannot be read one without the other."""
    graph = {name: m.imports | m.typing_only for name, m in modules().items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("name", sorted(n for n in modules() if n.startswith("payledger.domain")))
def test_the_domain_imports_nothing_of_the_project_outside_itself_and_no_io(name):
    reached = closure(name)
    outside = sorted(m for m in reached if not m.startswith("payledger.domain"))
    assert not outside, f"{name} reaches {outside}"
    io = sorted(set().union(*(modules()[m].external for m in reached)) & IO_LIBRARIES)
    assert not io, f"{name} reaches {io}"


def test_importing_the_domain_loads_no_adapter_and_no_io_library(tmp_path):
    """Loaded for real, in a fresh interpreter, with the `payledger` package's own
    `__init__` (the public face, which builds on everything) left out."""
    domain = sorted(n for n in modules() if n.startswith("payledger.domain"))
    script = (
        "import importlib, importlib.util, sys\n"
        "spec = importlib.util.find_spec('payledger')\n"
        "sys.modules['payledger'] = importlib.util.module_from_spec(spec)\n"
        f"for name in {domain!r}:\n"
        "    importlib.import_module(name)\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    loaded = set(subprocess.run([sys.executable, "-I", "-c", script], check=True,
                                capture_output=True, text=True, cwd=tmp_path).stdout.split())
    assert set(domain) <= loaded
    assert not {m for m in loaded if m.startswith("payledger.")} - set(domain)
    assert not {m.split(".")[0] for m in loaded} & IO_LIBRARIES


@pytest.mark.parametrize("name", sorted(n for n in modules()
                                        if not n.startswith("payledger.domain")))
def test_no_module_fills_a_table_when_imported(name):
    """Module level holds imports, definitions and plain assignments only: no call like
    `register(Invoice, {...})`, no `TABLE[key] = ...`; and no function writes into a
    module-level table (a decorator that registers what it decorates)."""
    module = modules()[name]
    tables = set()
    for node in module.tree.body:
        if isinstance(node, ast.Expr):
            assert isinstance(node.value, ast.Constant), (
                f"{name}:{node.lineno} runs {ast.unparse(node)!r} at import")
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else [])
        for target in targets:
            assert isinstance(target, ast.Name), (
                f"{name}:{node.lineno} fills {ast.unparse(target)!r} at import")
            tables.add(target.id)
    for function in ast.walk(module.tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        assert not any(isinstance(n, ast.Global) for n in ast.walk(function)), name
        own = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
        for node in ast.walk(function):
            if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
                    and isinstance(node.value, ast.Name)):
                written = node.value.id
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in MUTATORS and isinstance(node.func.value, ast.Name)):
                written = node.func.value.id
            else:
                continue
            assert written not in tables or written in own, (
                f"{name}:{node.lineno} writes into the module-level {written}")


def test_the_old_import_time_tables_are_gone():
    for name in modules():
        if name.startswith(("payledger.handlers", "payledger.scheduler",
                            "payledger.settlement", "payledger.catalogue")):
            loaded = importlib.import_module(name)
            assert not [t for t in OLD_TABLES if hasattr(loaded, t)], name
    assert not hasattr(importlib.import_module("payledger.scheduler"), "register")
    assert payledger  # the whole package imports
