"""Imports go downward only, as ARCHITECTURE.md draws the layers.

Every module under ``src/unlearnkit`` is parsed (nothing is imported), and every import it
makes, at module level or inside a function (a lazy import crosses a layer all the same),
is checked against the layer order. An upward import fails the test with
``file:line importer -> imported``. Exceptions are listed below, each with its reason.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "unlearnkit"

#: The layers, lowest first: a module may import its own layer and those below it.
#: ARCHITECTURE.md: cli / runner > audit > evaluation > methods > models > data > core; the
#: report renders results (it reads the audit's measures), the runner writes and reports
#: them, and the CLI drives the runner.
LAYERS = ("core", "data", "models", "methods", "evaluation", "audit", "report", "runner", "cli")

#: The first name under ``unlearnkit`` of each module -> its layer (the package's own
#: ``__init__`` holds only the version and the docstring: it is the bottom of the stack).
LAYER_OF = {
    "": "core",
    "core": "core",
    "data": "data",
    "models": "models",
    "methods": "methods",
    "evaluation": "evaluation",
    "audit": "audit",
    "report": "report",
    "runner": "runner",
    "cli": "cli",
}

#: Imports that go downward and are still not allowed: (importer layer, imported layer)
#: -> why.
FORBIDDEN = {
    ("evaluation", "methods"): "evaluation judges a model however it was made (ARCHITECTURE.md)",
}

#: Crossings still to be removed by someone else's change, each with its reason:
#: (importing module, imported module) -> reason. The lead removes an entry when the
#: crossing is gone; a listed crossing that no longer exists fails the test, so that the
#: list cannot go stale.
KNOWN_TODO: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Crossing:
    """One import that goes against the layers."""

    file: str
    line: int
    importer: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.importer} -> {self.imported} ({self.why})"


def module_name(path: Path) -> str:
    """``unlearnkit.a.b`` of ``src/unlearnkit/a/b.py`` (a package's ``__init__`` is the
    package)."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    """The layer of a module of the package; a module that maps to none fails the test."""
    first = module.split(".")[1] if "." in module else ""
    if first not in LAYER_OF:
        pytest.fail(
            f"{module} belongs to no layer: add {first!r} to LAYER_OF in {__file__} "
            "(and its place to ARCHITECTURE.md)"
        )
    return LAYER_OF[first]


def imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of the package in the file, at any depth
    (module level, functions, ``if TYPE_CHECKING`` blocks). ``from a import b`` counts as an
    import of ``a.b`` when ``a.b`` is a module of the package, else of ``a``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if is_module(sub) else base))
    return [(n, m) for n, m in found if m == PACKAGE or m.startswith(PACKAGE + ".")]


def is_module(name: str) -> bool:
    """Whether ``name`` is a module or package under ``src``."""
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def crossings() -> list[Crossing]:
    """Every import of the package against the layers (KNOWN_TODO included)."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    out = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        importer = module_name(path)
        mine = layer(importer)
        for line, imported in imports(path):
            theirs = layer(imported)
            if rank[theirs] > rank[mine]:
                why = f"{mine} imports {theirs}, a layer above it"
            elif (mine, theirs) in FORBIDDEN:
                why = FORBIDDEN[(mine, theirs)]
            else:
                continue
            file = path.relative_to(SRC.parent).as_posix()
            out.append(Crossing(file, line, importer, imported, why))
    return out


def test_every_import_goes_down_the_layers():
    found = [c for c in crossings() if (c.importer, c.imported) not in KNOWN_TODO]
    assert not found, "imports against the layers (ARCHITECTURE.md):\n" + "\n".join(map(str, found))


def test_the_known_crossings_still_exist():
    # an entry whose crossing was removed must leave the list, or it would excuse a new one
    present = {(c.importer, c.imported) for c in crossings()}
    gone = [f"{a} -> {b}" for a, b in KNOWN_TODO if (a, b) not in present]
    assert not gone, "remove these fixed crossings from KNOWN_TODO:\n" + "\n".join(gone)


def test_the_checker_sees_lazy_relative_and_from_imports(tmp_path, monkeypatch):
    # a fake package with one upward import of each form the checker must catch
    root = tmp_path / "src"
    pkg = root / PACKAGE
    for sub in ("core", "methods", "evaluation", "runner"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "runner" / "run.py").write_text("")
    (pkg / "evaluation" / "api.py").write_text("")
    (pkg / "core" / "lazy.py").write_text(
        "def f():\n    from unlearnkit.runner.run import x\n    return x\n"
    )
    (pkg / "methods" / "rel.py").write_text("from ..evaluation import api\n")
    (pkg / "methods" / "plain.py").write_text("import unlearnkit.runner.run\n")
    (pkg / "evaluation" / "side.py").write_text("from unlearnkit.methods import rel\n")
    (pkg / "runner" / "ok.py").write_text("from unlearnkit.core import lazy\n")
    monkeypatch.setitem(globals(), "SRC", root)
    got = sorted((c.file, c.line, c.imported) for c in crossings())
    assert got == [
        ("src/unlearnkit/core/lazy.py", 2, "unlearnkit.runner.run"),
        ("src/unlearnkit/evaluation/side.py", 1, "unlearnkit.methods.rel"),
        ("src/unlearnkit/methods/plain.py", 1, "unlearnkit.runner.run"),
        ("src/unlearnkit/methods/rel.py", 1, "unlearnkit.evaluation.api"),
    ]
