"""The package's rooms stay apart: no module imports, at load time, a module that imports it
back (directly or round a longer loop). Imports inside functions and under TYPE_CHECKING are
deferred and do not count."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def load_time_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Modules of the package that `path` imports when it is loaded."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(f"{target}."):
                found.add(target)
    return found


def test_no_import_cycles_at_load_time() -> None:
    files = {module_name(p): p for p in (SRC / "lakehouse").rglob("*.py")}
    graph = {name: load_time_imports(p, name, set(files)) for name, p in files.items()}
    assert graph.get("lakehouse.engines.flow")  # the reader sees imports
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the loop


def test_rooms_hold_small_modules_and_the_top_level_few() -> None:
    """#17: no module over 400 lines; at most ten modules loose at the top of the package."""
    package = SRC / "lakehouse"
    lines = {
        p.relative_to(SRC).as_posix(): len(p.read_text().splitlines())
        for p in package.rglob("*.py")
    }
    assert {name: n for name, n in lines.items() if n > 400} == {}
    top = sorted(p.stem for p in package.glob("*.py") if not p.stem.startswith("__"))
    assert len(top) <= 10, top
