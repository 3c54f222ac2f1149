"""The package's shape: each stage imports only from below it, no module grows past 400 lines, tests mirror it.

The stages, bottom to top (an arrow reads "is imported by")::

    base (errors, files) <- model <- lang <- semantics <- engine <- workflows <- output <- cli
                            model <- oracles <- workflows

Every import counts, at module level, inside a function or under ``TYPE_CHECKING``: an import
inside a function hides a cycle from Python, not from this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cexsearch"

#: what each stage may import directly (and, through them, everything below)
BELOW: dict[str, tuple[str, ...]] = {
    "base": (),
    "model": ("base",),
    "lang": ("model",),
    "semantics": ("lang",),
    "engine": ("semantics",),
    "oracles": ("model",),
    "workflows": ("engine", "oracles"),
    "output": ("workflows",),
    "cli": ("output",),
}
SUBPACKAGES = {"model": "model", "lang": "lang", "semantics": "semantics", "engine": "engine", "oracles": "oracles",
               "workflows": "workflows", "output": "output", "commands": "cli"}
#: modules at the top of the package, by the stage they belong to
TOP_LEVEL = {
    "errors": "base", "files": "base", "interrupt": "base",
    "api": "workflows",
    "cli": "cli", "entry": "cli", "__main__": "cli", "pytest_plugin": "cli",
}
MAX_LINES = 400
#: modules over the limit, to split by what each part is (none now)
TOO_LONG_FOR_NOW: set[str] = set()


def closure(stage: str) -> set[str]:
    """The stages ``stage`` may import: itself and everything below it."""
    out = {stage}
    for lower in BELOW[stage]:
        out |= closure(lower)
    return out


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> str:
    """The stage of ``cexsearch`` or ``cexsearch.X...``; the package root is a facade: base when imported
    (``__version__``), cli as an importer (its lazy re-exports of the API)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "base"
    if parts[1] in SUBPACKAGES:
        return SUBPACKAGES[parts[1]]
    if parts[1] in TOP_LEVEL:
        return TOP_LEVEL[parts[1]]
    raise AssertionError(f"{module}: a module this test does not place; add it to a stage (SUBPACKAGES or TOP_LEVEL)")


def imports(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, imported cexsearch module) for every import in ``source``, a submodule when one is named."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "cexsearch"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "cexsearch":
                continue
            for a in node.names:  # `from . import lang` imports the subpackage, not the root
                sub = f"{target}.{a.name}"
                as_path = ROOT.joinpath(*sub.split("."))
                found.append((node.lineno, sub if as_path.with_suffix(".py").is_file() or as_path.is_dir() else target))
    return found


def upward_imports(source: str, path: Path) -> list[str]:
    """Each import in the file at ``path`` that reaches above its stage, as a sentence."""
    module = module_name(path)
    importer = "cli" if module == "cexsearch" else stage_of(module)
    allowed = closure(importer)
    return [f"{path.relative_to(ROOT)}:{line} ({importer}) imports {target} ({stage_of(target)})"
            for line, target in imports(source, module, path.name == "__init__.py")
            if stage_of(target) not in allowed]


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_import_points_down():
    bad = [msg for p in package_files() for msg in upward_imports(p.read_text(encoding="utf-8"), p)]
    assert bad == [], "imports against the stages (move the code down, or the import up):\n" + "\n".join(bad)


def test_no_import_cycle_between_stages():
    """The stage graph the package really has (every import, lazy ones too) has no cycle."""
    edges: dict[str, set[str]] = {s: set() for s in BELOW}
    for p in package_files():
        module = module_name(p)
        importer = "cli" if module == "cexsearch" else stage_of(module)
        for _, target in imports(p.read_text(encoding="utf-8"), module, p.name == "__init__.py"):
            if stage_of(target) != importer:
                edges[importer].add(stage_of(target))

    def cycle_from(stage: str, path: list[str]) -> list[str] | None:
        for nxt in sorted(edges[stage]):
            if nxt in path:
                return path[path.index(nxt):] + [nxt]
            found = cycle_from(nxt, path + [nxt])
            if found:
                return found
        return None

    cycles = [c for s in BELOW if (c := cycle_from(s, [s]))]
    assert cycles == [], f"import cycle between stages: {' -> '.join(cycles[0])}"


def test_the_checks_catch_an_upward_import_and_a_lazy_one():
    """The direction check can fail: a planted import of the CLI from the model, one hidden in a function."""
    planted = PACKAGE / "model" / "planted.py"
    source = "from ..errors import SpecError\n\ndef f():\n    from ..commands.common import Exit\n"
    assert upward_imports(source, planted) == ["cexsearch/model/planted.py:4 (model) imports "
                                               "cexsearch.commands.common (cli)"]
    assert upward_imports("from .. import lang as C\n", PACKAGE / "semantics" / "planted.py") == []
    assert upward_imports("from .. import lang as C\n", PACKAGE / "model" / "planted.py") == [
        "cexsearch/model/planted.py:1 (model) imports cexsearch.lang (lang)"]
    with pytest.raises(AssertionError, match="does not place"):
        stage_of("cexsearch.somewhere_new")


def test_no_module_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in package_files()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    over = {name: n for name, n in long.items() if name not in TOO_LONG_FOR_NOW}
    assert over == {}, f"modules over {MAX_LINES} lines (split them by what each part is): {over}"
    shrunk = TOO_LONG_FOR_NOW - set(long)
    assert not shrunk, f"now within {MAX_LINES} lines, drop from TOO_LONG_FOR_NOW: {sorted(shrunk)}"


def test_tests_mirror_the_package():
    """A folder of tests is named after the subpackage it tests."""
    folders = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and p.name != "__pycache__"}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders <= packages, f"test folders without a subpackage: {sorted(folders - packages)}"
