"""docs/architecture.md stays honest: every file and folder it names exists, the layout tree
lists real modules, and every package of the code appears in that tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("crawler", "alerts", "scheduler", "newswatch")
# A path from the top of the repository: `crawler/poll.py`, `alerts/render/templates/`,
# `tests/data/store/release-dfa0e51.db`. Placeholders (`<type>.py`) are not paths.
_TOP = "|".join((*PACKAGES, "tests", "docs", "deploy", "benchmarks"))
PATH = re.compile(rf"(?<![\w./<-])((?:{_TOP})/[\w./-]*)")
# A line of the layout tree: indentation, a branch, one name or several (``a.py, b.py``).
TREE_ENTRY = re.compile(r"^((?:[│ ]   )*)(├── |└── )?([\w./]+(?:, [\w./]+)*)(?=\s|$)")


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def named_paths(text: str) -> list[str]:
    """Every path the page names, trailing punctuation left off."""
    found = []
    for match in PATH.finditer(text):
        path = match.group(1).rstrip(".,")
        if path.count("/") and not path.endswith("/.."):
            found.append(path)
    return sorted(set(found))


def layout_block(text: str) -> str:
    """The code block of the "Layout" section."""
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def tree_paths(block: str) -> list[str]:
    """The path of every entry of the layout tree; ``a.py, b.py`` on one line is two."""
    paths: list[str] = []
    stack: list[str] = []  # the folders above the current line, by depth
    for line in block.splitlines():
        match = TREE_ENTRY.match(line)
        if not match:
            continue
        indent, branch, entry = match.groups()
        depth = len(indent) // 4 + (1 if branch else 0)
        del stack[depth:]
        names = entry.split(", ")
        for name in names:
            paths.append("/".join([*stack, name.rstrip("/")]))
        if len(names) == 1 and names[0].endswith("/"):
            stack.append(names[0].rstrip("/"))
    return paths


def test_every_path_the_page_names_exists():
    missing = [path for path in named_paths(doc_text()) if not (ROOT / path).exists()]
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_the_check_finds_the_paths():
    paths = named_paths("see `crawler/poll.py`, alerts/channels/<type>.py and crawler/sources/.")
    # the placeholder is left off; its folder is still checked
    assert paths == ["alerts/channels/", "crawler/poll.py", "crawler/sources/"]
    assert "crawler/poll.py" in named_paths(doc_text())


def test_every_layout_entry_exists():
    entries = tree_paths(layout_block(doc_text()))
    assert "crawler/sources/rss.py" in entries and "alerts/render/formats" in entries
    missing = [path for path in entries if not (ROOT / path).exists()]
    assert not missing, f"the layout in docs/architecture.md lists what does not exist: {missing}"


def test_every_package_is_in_the_layout():
    entries = set(tree_paths(layout_block(doc_text())))
    packages = sorted(
        init.parent.relative_to(ROOT).as_posix()
        for top in PACKAGES
        for init in (ROOT / top).rglob("__init__.py")
    )
    missing = [package for package in packages if package not in entries]
    assert not missing, f"add these packages to the layout in docs/architecture.md: {missing}"
