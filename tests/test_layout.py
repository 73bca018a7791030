"""The layout is a contract: every package imports alone, the top of dashboard/ holds only the
wiring, and no module imports the app inside a function (the way a circle is usually dodged).
The layers themselves are checked by `lint-imports` (pyproject.toml), which CI runs."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "dashboard"
WIRING = {
    "__init__.py",
    "celery_app.py",
    "cli.py",
    "config.py",
    "database.py",
    "errors.py",
    "extensions.py",
    "signals.py",
    "tasks.py",
}
PACKAGES = sorted(
    "dashboard." + path.parent.relative_to(PACKAGE).as_posix().replace("/", ".")
    for path in PACKAGE.rglob("__init__.py")
    if path.parent != PACKAGE
)


def test_the_top_of_dashboard_holds_only_the_wiring() -> None:
    modules = {path.name for path in PACKAGE.glob("*.py")}
    assert modules == WIRING, f"modules beside the wiring: {sorted(modules - WIRING)}"


def test_every_package_says_what_lives_there_and_what_it_may_import() -> None:
    for name in PACKAGES:
        init = PACKAGE.joinpath(*name.split(".")[1:], "__init__.py")
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(docstring) > 80, f"{name} has no docstring worth reading"
        if name.count(".") == 1:  # the areas, not their subpackages
            assert "import" in docstring, f"{name}'s docstring does not say what it may import"


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_alone(package: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {package}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_no_module_imports_the_app_inside_a_function() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom):
                        module = inner.module or ""
                        if inner.level or module == "dashboard" or module.startswith("dashboard."):
                            found.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
                    elif isinstance(inner, ast.Import) and any(
                        alias.name.startswith("dashboard") for alias in inner.names
                    ):
                        found.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert not found, f"imports of the app inside a function: {found}"


def test_views_hold_no_sql() -> None:
    """Pages and the API parse, call a service or a query of their area, and render."""
    found = []
    for path in sorted(
        [*PACKAGE.joinpath("web").rglob("*.py"), *PACKAGE.joinpath("api").rglob("*.py")]
    ):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr in ("execute", "scalars", "scalar"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"SQL in a view: {found}"
