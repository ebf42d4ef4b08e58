"""Which folder of assist may import which (docs/architecture.md): events flow phone -> stream -> coach -> hub ->
store, browser, sync, and imports follow that one direction.  Only the composition root (assist/service) and
the command line wire the parts together; every import statement, at module level or inside a function, counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

ASSIST = Path(__file__).resolve().parent.parent / "assist"

# folder -> the assist packages it must not import
FORBIDDEN: dict[str, set[str]] = {
    "stream": {"coach", "sync", "web", "service", "store"},
    "coach": {"stream", "sync", "web", "service", "store"},
    "store": {"coach", "stream", "sync", "web", "service"},
    "sync": {"web", "service", "stream"},
}
# the neutral modules everybody may import, and which must import none of the parts
NEUTRAL = ("accounts.py", "events.py")
PARTS = {"stream", "coach", "store", "sync", "web", "service"}


def _imported_parts(path: Path) -> set[tuple[int, str]]:
    """(line, top-level assist package) of every `assist.X` this module imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "assist"]
        for name in names:
            parts = name.split(".")
            if parts[0] == "assist" and len(parts) > 1:
                found.add((node.lineno, parts[1]))
    return found


def _violations(folder: str, forbidden: set[str]) -> list[str]:
    out = []
    for path in sorted((ASSIST / folder).rglob("*.py")):
        for line, part in sorted(_imported_parts(path)):
            if part in forbidden:
                out.append(f"{path.relative_to(ASSIST.parent)}:{line} imports assist.{part}")
    return out


def test_each_folder_imports_only_downstream() -> None:
    problems = [v for folder, forbidden in FORBIDDEN.items() for v in _violations(folder, forbidden)]
    assert problems == [], "\n".join(problems)


def test_only_the_composition_root_of_the_service_imports_the_web_layer() -> None:
    problems = [
        f"{path.relative_to(ASSIST.parent)}:{line} imports assist.web"
        for path in sorted((ASSIST / "service").glob("*.py"))
        if path.name != "app.py"
        for line, part in sorted(_imported_parts(path))
        if part == "web"
    ]
    assert problems == [], "\n".join(problems)


def test_neutral_modules_import_no_part() -> None:
    problems = [
        f"assist/{name}:{line} imports assist.{part}"
        for name in NEUTRAL
        for line, part in sorted(_imported_parts(ASSIST / name))
        if part in PARTS
    ]
    assert problems == [], "\n".join(problems)


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import assist.coach.engine\n\ndef f():\n    from assist.store.db import Database\n"
        "    from assist import web\n    return Database, web\n"
    )
    assert {part for _, part in _imported_parts(module)} == {"coach", "store", "web"}
