"""The documentation stands alone: a short README with the two commands on its first screen, and
every relative link in README.md, docs/ and SECURITY.md resolving to a file inside the repository.

No network, no fixtures: it reads files only.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# Inline links and images: [text](target) / ![alt](target "title"); the target ends at the first
# space or closing parenthesis. Reference-style definitions: [label]: target
INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1", re.MULTILINE | re.DOTALL)
EXTERNAL = re.compile(r"^(https?:|mailto:)", re.IGNORECASE)
CHECKED_SUFFIXES = {".md", ".py", ".html", ".toml", ".yml", ".txt"}


def documents() -> list[Path]:
    return [README, ROOT / "SECURITY.md", *sorted((ROOT / "docs").rglob("*.md"))]


def link_targets(text: str) -> list[str]:
    """Every link and image target in Markdown `text`, outside fenced code blocks."""
    prose = FENCE.sub("", text)
    return INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)


def broken_links(document: Path, root: Path = ROOT) -> list[str]:
    """The relative targets in `document` that do not resolve to a file inside `root`."""
    broken = []
    for target in link_targets(document.read_text(encoding="utf-8")):
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (document.parent / path).resolve()
        if not resolved.is_relative_to(root) or not resolved.exists():
            broken.append(target)
    return broken


def tracked_text_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
        ).stdout.split("\0")
        files = [ROOT / name for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "node_modules", "instance"}
        files = [p for p in ROOT.rglob("*") if not skip & set(p.relative_to(ROOT).parts)]
    # Files not yet committed count too: docs written beside the tracked ones.
    files += [p for p in (ROOT / "docs").rglob("*") if p not in files]
    return [
        p for p in files if p.is_file() and (p.suffix in CHECKED_SUFFIXES or p.name == "Makefile")
    ]


def test_the_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 250, f"README.md has {len(lines)} lines; move detail into docs/"


def test_the_two_commands_are_on_the_first_screen() -> None:
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:40])
    assert "make run" in first_screen
    assert "make test" in first_screen


def test_the_readme_shows_a_screenshot_that_exists() -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)", README.read_text(encoding="utf-8"))
    assert images, "README.md shows no image"
    assert all((ROOT / image).is_file() for image in images)


@pytest.mark.parametrize("document", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    assert document.is_file(), f"{document.relative_to(ROOT)} is missing"
    assert broken_links(document) == []


def test_the_link_check_catches_what_it_should(tmp_path: Path) -> None:
    """The checker itself, on a little repository of its own: a missing file, a path out of the
    repository (even to a file that exists) and a broken reference definition are reported;
    good paths, anchors, URLs and code blocks are not."""
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "architecture.md").write_text("# A\n", encoding="utf-8")
    (repo / "SECURITY.md").write_text("# S\n", encoding="utf-8")
    (tmp_path / "outside.md").write_text("# O\n", encoding="utf-8")
    page = repo / "docs" / "page.md"
    page.write_text(
        "[ok](architecture.md#the-layer-contract) [up](../SECURITY.md) [anchor](#x)\n"
        "[web](https://example.com) [mail](mailto:a@example.com) ![img](../nowhere.png)\n"
        "[gone](missing.md) [out](../../outside.md)\n"
        "[ref]: ./also-missing.md\n"
        "[good ref]: architecture.md\n"
        "```\n[in code](not-checked.md)\n```\n",
        encoding="utf-8",
    )
    assert sorted(broken_links(page, root=repo)) == sorted(
        ["missing.md", "../nowhere.png", "../../outside.md", "./also-missing.md"]
    )


# The folder beside a checkout that the repository must never lean on, spelled in two pieces so
# that this file does not name it whole.
OUTSIDE_FOLDER = "/".join(("..", "shared"))


def test_nothing_points_outside_the_repository() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in tracked_text_files()
        if OUTSIDE_FOLDER in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert offenders == []
