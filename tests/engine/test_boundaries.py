"""The engine stands alone: no Flask, SQLAlchemy, Redis or RQ, and nothing from the
rest of the application, so it can be driven (and reasoned about) without them."""

from __future__ import annotations

import ast
from pathlib import Path

import webapp.engine

ENGINE = Path(webapp.engine.__file__).parent
FORBIDDEN = {"flask", "flask_sqlalchemy", "flask_login", "sqlalchemy", "redis", "rq", "openai", "webapp"}


def imports_of(source: str, package: str) -> list[tuple[str, int]]:
    """Every module some source imports, relative imports resolved against ``package``."""
    parts = package.split(".")
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            found.append((".".join(filter(None, [*base, node.module or ""])), node.lineno))
    return found


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(ENGINE.parent.parent).with_suffix("").parts[:-1])


def test_the_engine_imports_no_framework_and_nothing_outside_itself():
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 5
    offending = [
        f"{path.relative_to(ENGINE)}:{line} imports {name}"
        for path in files
        for name, line in imports_of(path.read_text(), package_of(path))
        if name.split(".")[0] in FORBIDDEN and not name.startswith("webapp.engine")
    ]
    assert offending == []


def test_relative_imports_are_resolved():
    package = "webapp.engine.nodes"
    assert imports_of("from ...models import Execution", package) == [("webapp.models", 1)]
    assert imports_of("from ..errors import NodeError", package) == [("webapp.engine.errors", 1)]
    assert imports_of("from . import base", package) == [("webapp.engine.nodes", 1)]
