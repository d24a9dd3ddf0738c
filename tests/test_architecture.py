"""The layout rules of docs/architecture.md, checked over the source.

Imports point ``scheduler -> alerts -> crawler``; the rule language (``alerts/rules/``)
knows nothing of queues, delivery or channels; every deliberate error lives in its
package's ``errors`` module and appears in the hierarchy drawn in ``crawler/errors.py``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import crawler.errors
from crawler.errors import NewswatchError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("crawler", "alerts", "scheduler")
# Importer prefix -> module prefixes it must not import (lazy imports in functions count).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "crawler": ("alerts", "scheduler"),
    "alerts": ("scheduler",),
    "alerts.rules": ("alerts.outbox", "alerts.delivery", "alerts.channels"),
}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import statement in the file, nested ones too."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # "from alerts import channels" imports alerts.channels.
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)
            yield node.lineno, base


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_architecture_imports_point_one_way():
    broken: dict[tuple[str, str], str] = {}
    for path in _sources():
        importer = _module_name(path)
        rules = [
            (o, p) for o, forbidden in FORBIDDEN.items() if _under(importer, o) for p in forbidden
        ]
        for line, imported in _imports(path):
            for owner, prefix in rules:
                if _under(imported, prefix):
                    where = f"{path.relative_to(ROOT)}:{line}"
                    broken.setdefault((where, prefix), f"{where}: {owner} must not import {prefix}")
    assert not broken, "\n".join(sorted(broken.values()))


def _all_modules() -> Iterator[str]:
    for package in PACKAGES:
        module = importlib.import_module(package)
        yield package
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if not info.name.endswith("__main__"):
                yield info.name


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_architecture_errors_live_in_errors_modules_and_are_drawn():
    for name in _all_modules():
        importlib.import_module(name)
    ours = [c for c in _subclasses(NewswatchError) if c.__module__.split(".")[0] in PACKAGES]
    assert ours
    misplaced = [
        f"{c.__module__}.{c.__qualname__}" for c in ours if not c.__module__.endswith(".errors")
    ]
    assert not misplaced, f"errors belong in their package's errors module: {misplaced}"
    drawn = crawler.errors.__doc__ or ""
    undrawn = [c.__name__ for c in ours if f"── {c.__name__} " not in drawn]
    assert not undrawn, f"add to the hierarchy in crawler/errors.py: {undrawn}"
