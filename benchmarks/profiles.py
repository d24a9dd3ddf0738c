"""Profile a newswatch command with py-spy or pyinstrument and summarise the hot spots.

    python benchmarks/profiles.py summary profile.speedscope.json      # top 15 again

py-spy samples the child from outside (``py-spy record --format speedscope``, with
``--native`` so time inside SQLite, lxml or the regex engine shows as such) and this module
ranks functions by *self* time (samples where the function itself was running) and *total*
time (samples where it was anywhere on the stack), the way ``py-spy top`` does. The
speedscope file opens in https://www.speedscope.app or the ``speedscope`` npm package.
pyinstrument writes its own HTML and text reports.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def py_spy_path() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def record_py_spy(
    cmd: Sequence[str], out: Path, env: Mapping[str, str], *, native: bool = True, rate: int = 200
) -> Path:
    """Run ``cmd`` under py-spy; returns the speedscope file."""
    spy = py_spy_path()
    if spy is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    target = out.with_suffix(".speedscope.json")
    args = [spy, "record", "--format", "speedscope", "-o", str(target), "--rate", str(rate)]
    args += ["--native"] if native else []
    result = subprocess.run([*args, "--", *cmd], env=dict(env), capture_output=True, text=True)
    if result.returncode != 0 and not target.exists():
        if native:  # --native needs libunwind support; fall back to Python frames only
            return record_py_spy(cmd, out, env, native=False, rate=rate)
        raise SystemExit(f"py-spy failed:\n{result.stderr[-2000:]}")
    return target


def record_pyinstrument(cmd: Sequence[str], out: Path, env: Mapping[str, str]) -> Path:
    """Run a ``python -m newswatch ...`` command under pyinstrument; returns the text report."""
    assert cmd[1] == "-m", "pyinstrument profiles python -m commands"
    html, text = out.with_suffix(".pyinstrument.html"), out.with_suffix(".pyinstrument.txt")
    base = [cmd[0], "-m", "pyinstrument"]
    subprocess.run([*base, "-r", "html", "-o", str(html), *cmd[1:]], env=dict(env), check=False)
    subprocess.run([*base, "-o", str(text), *cmd[1:]], env=dict(env), check=False)
    return text


def _label(frame: Mapping[str, object]) -> str:
    name = str(frame.get("name", "?"))
    file = str(frame.get("file", "") or "")
    for marker in (f"{ROOT}/", "site-packages/", "/lib/python3."):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    line = frame.get("line")
    return f"{file}:{name}" + (f":{line}" if line and "(" not in name else "")


# Innermost Python frames of a thread that waits (py-spy --native counts some as active).
IDLE = ("Condition.wait", "_queue_SimpleQueue_get", "select_epoll_poll", "Event.wait", "sleep")
PROJECT = ("crawler/", "alerts/", "scheduler/")
# A sample belongs to the stage of the innermost of these functions on its stack.
STAGES = (
    ("imports", "_find_and_load"),
    ("query parse (luqum)", "parse_query"),
    ("rule lint", "lint_rule"),
    ("matcher build", "Matcher.build"),
    ("config load", "load_config"),
    ("runtime build (rules compiled, db opened)", "build_runtime"),
    ("parse (feedparser)", "parse_feed"),
    ("stories (shingles, MinHash, LSH)", "StoryIndex.assign"),
    ("store (dedupe, insert, commit)", "store_articles"),
    ("record poll", "record_poll"),
    ("match and queue", "match_pending"),
    ("deliver", "deliver_due"),
    ("deliver", "_deliver_channel"),
    ("fetch (Scrapy, Twisted)", "fetch_feeds"),
    ("fetch (Scrapy, Twisted)", "_runCallbacks"),
    ("fetch (Scrapy, Twisted)", "dataReceived"),
    ("other / event loop", "run_async"),
)


def is_native(frame: Mapping[str, object]) -> bool:
    file = str(frame.get("file", "") or "")
    return ".so" in file or str(frame.get("name", "")).startswith("0x")


def summarize_speedscope(path: Path, top: int = 15) -> str:
    """Top functions by self time (innermost frame, and innermost Python frame) and total."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    own: Counter[str] = Counter()
    own_python: Counter[str] = Counter()
    own_project: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0.0
    for profile in data["profiles"]:
        for sample, weight in zip(profile["samples"], profile["weights"], strict=False):
            python = [i for i in sample if not is_native(frames[i])]
            inner = _label_nolines(frames[python[-1]]) if python else ""
            if not sample or any(word in inner for word in IDLE):
                continue
            total += weight
            own[_label_nolines(frames[sample[-1]])] += weight
            if python:
                own_python[inner] += weight
            ours = [i for i in python if any(p in str(frames[i].get("file")) for p in PROJECT)]
            own_project[_label_nolines(frames[ours[-1]]) if ours else "(outside newswatch)"] += (
                weight
            )
            for label in {_label_nolines(frames[i]) for i in ours}:
                anywhere[label] += weight
            stages[_stage([str(frames[i].get("name")) for i in python])] += weight
    lines = [f"{path.name}: {total:.1f} s of samples (every thread, waits left out)"]
    lines.append("\ntime by pipeline stage (innermost stage function on the stack):")
    for stage, weight in stages.most_common():
        lines.append(f"  {100 * weight / total:5.1f}%  {weight:7.2f}s  {stage}")
    tables = (
        ("self time (innermost frame, native code included)", own),
        ("self time (innermost Python function: native time charged to its caller)", own_python),
        (
            "self time charged to the innermost newswatch function (libraries, SQLite included)",
            own_project,
        ),
        ("total time (anywhere on the stack; newswatch's own functions)", anywhere),
    )
    for title, counter in tables:
        lines.append(f"\ntop {top} by {title}:")
        for label, weight in counter.most_common(top):
            lines.append(f"  {100 * weight / total:5.1f}%  {weight:7.2f}s  {label}")
    return "\n".join(lines)


def _stage(names: list[str]) -> str:
    for name in reversed(names):
        for stage, marker in STAGES:
            if name.endswith(marker):
                return stage
    return "outside the command (start-up, threads)"


def _label_nolines(frame: Mapping[str, object]) -> str:
    """Per function, not per line (py-spy's frames carry the sampled line)."""
    return _label({k: v for k, v in frame.items() if k != "line"})


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "summary":
        print(summarize_speedscope(Path(sys.argv[2])))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
