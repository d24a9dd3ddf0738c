"""The ``slow`` marker means something: every test that runs ``newswatch`` in a subprocess
carries it, so ``pytest -m "not slow"`` is the quick run that skips exactly those.

A test runs the command when it calls ``tests.clirunner.newswatch`` or ``start_service``,
directly, through a function of its own module or of a helper module (transitively), or
through a fixture of its module that does; or when it spells out ``-m newswatch`` itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
STARTERS = {"newswatch", "start_service"}  # tests/clirunner.py: each starts a subprocess
SPELLED_OUT = "-m newswatch"  # a command line of its own: counted as a call of a starter


def _called_names(node: ast.AST) -> set[str]:
    """The names of the functions ``node`` calls or passes on (``f(...)``, ``x.f(...)``,
    ``fixture=f``), and the arguments it takes (fixtures by name)."""
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            func = child.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
        elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
            names.add(child.id)
        elif isinstance(child, ast.List | ast.Tuple):
            words = [e.value for e in child.elts if isinstance(e, ast.Constant)]
            if SPELLED_OUT in " ".join(map(str, words)):
                names.add("newswatch")
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        names |= {arg.arg for arg in node.args.args + node.args.kwonlyargs}
    return names


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"{node.name}.{item.name}"] = item
    return found


def _spawning(
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef], starters: set[str]
) -> set[str]:
    """The functions that reach a starter through calls within the module (a fixpoint)."""
    calls = {name: _called_names(node) for name, node in functions.items()}
    spawning: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, called in calls.items():
            short = name.rsplit(".", 1)[-1]
            if name not in spawning and called & (starters | spawning):
                spawning |= {name, short}
                changed = True
    return spawning


def _helper_starters() -> set[str]:
    """STARTERS and every helper-module function that calls one."""
    starters = set(STARTERS)
    for path in sorted(TESTS.glob("*.py")):
        if not path.name.startswith("test_") and path.name != "clirunner.py":
            functions = _functions(ast.parse(path.read_text(encoding="utf-8")))
            starters |= _spawning(functions, STARTERS)
    return starters


def _is_slow_mark(node: ast.expr) -> bool:
    """``pytest.mark.slow`` (or a call of it), or a list or tuple holding one."""
    if isinstance(node, ast.List | ast.Tuple):
        return any(_is_slow_mark(element) for element in node.elts)
    if isinstance(node, ast.Call):
        node = node.func
    return ast.unparse(node) in {"pytest.mark.slow", "mark.slow"}


def _module_marked(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets
        ):
            return _is_slow_mark(node.value)
    return False


def unmarked_subprocess_tests() -> Iterator[str]:
    starters = _helper_starters()
    for path in sorted(TESTS.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _module_marked(tree):
            continue
        functions = _functions(tree)
        spawning = _spawning(functions, starters)
        for name, node in functions.items():
            test = name.rsplit(".", 1)[-1].startswith("test_")
            if test and name in spawning and not any(map(_is_slow_mark, node.decorator_list)):
                yield f"{path.name}::{name} (line {node.lineno})"


def test_every_test_that_runs_newswatch_in_a_subprocess_is_marked_slow():
    missing = list(unmarked_subprocess_tests())
    assert not missing, (
        "these tests run newswatch in a subprocess; mark them @pytest.mark.slow "
        "(or the module with pytestmark = pytest.mark.slow):\n  " + "\n  ".join(missing)
    )


def test_the_check_sees_subprocess_tests():
    # The check must find the end-to-end tests, or it would pass on anything.
    starters = _helper_starters()
    tree = ast.parse((TESTS / "test_e2e_run.py").read_text(encoding="utf-8"))
    assert any(name.startswith("test_") for name in _spawning(_functions(tree), starters)), (
        "no test of test_e2e_run.py was seen starting the service"
    )
