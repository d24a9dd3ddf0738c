"""Archives of N stored articles to poll into, built once through newswatch itself and cached.

    python benchmarks/archive.py 100000          # build (or find) the 100k archive
    python benchmarks/archive.py 1000000 --rebuild

An archive is made the way a user's database grows: ``newswatch once`` polls an archive farm
(feeds of 1,000 items numbered from 10,000,001, so that no text, link or GUID is one of the
benchmark farm's) in chunks of 100,000 items, with the same
1,000 rules, so the archive holds matches and sent alerts in the proportions a real one
would. Nothing here knows newswatch's tables or module paths: only its command line.

Archives are kept under ``--cache`` (default ``/work/tmp-bench/archives``, or
``$NEWSWATCH_BENCH_CACHE``), never in git, named by size and rule count. When this
checkout's newswatch creates a different schema (``user_version`` and tables) than a cached
archive has, the archive is upgraded first by one small ``once`` that lets newswatch migrate
it, so a benchmark never times a migration.
``--rebuild`` starts over. A benchmark gets a private copy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.farm import FeedFarm  # noqa: E402
from benchmarks.procs import ROOT, newswatch_cmd, newswatch_env, run_measured  # noqa: E402
from benchmarks.workload import ConfigSpec, ItemMaker, make_rules  # noqa: E402

ITEMS_PER_FEED = 1000
CHUNK = 100_000
FIRST_NUMBER = 10_000_001  # archive items never share a number with the farm's (1, 2, ...)
DEFAULT_CACHE = Path("/work/tmp-bench/archives")


def archive_name(size: int, rules: int) -> str:
    return f"archive-{size}-rules{rules}.db"


def copy_archive(source: Path, target: Path) -> None:
    """A private copy of a cached archive (its WAL was checkpointed when it was built)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, target)


def ensure_archive(
    size: int, cache: Path, *, rules: int = 1000, rebuild: bool = False, quiet: bool = False
) -> Path:
    """The cached archive of ``size`` articles, built first if missing."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / archive_name(size, rules)
    say = (lambda *a: None) if quiet else print
    if path.exists() and not rebuild:
        if schema_of(path) != current_schema(cache):
            say(f"  archive {path.name}: older schema, upgrading it with one small poll")
            upgrade(path, cache)
        return path
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="newswatch-archive-", dir=cache) as tmp:
        folder = Path(tmp)
        done = 0
        smaller = largest_below(size, cache, rules)
        if smaller is not None:  # grow a copy of a smaller archive rather than start over
            done, seed = smaller
            say(f"  archive: starting from the cached {done:,}-article archive")
            copy_archive(seed, folder / "newswatch.db")
        built = build(size, folder, rules, say, done=done)
        checkpoint(built)
        built.replace(path)
    meta = {"size": size, "rules": rules, "seconds": round(time.monotonic() - started)}
    meta["commit"] = git_commit()
    path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    say(f"archive of {size:,} articles built in {meta['seconds']}s: {path}")
    return path


def largest_below(size: int, cache: Path, rules: int) -> tuple[int, Path] | None:
    """The largest cached archive smaller than ``size`` (chunk-aligned), if any."""
    found = []
    for path in cache.glob(f"archive-*-rules{rules}.db"):
        built = int(path.name.split("-")[1])
        if built < size and built % CHUNK == 0:
            found.append((built, path))
    return max(found, default=None)


def build(
    size: int, folder: Path, rule_count: int, say: Callable[..., None], *, done: int = 0
) -> Path:
    """Poll an archive farm in chunks until ``size`` articles are stored."""
    maker = ItemMaker()  # the benchmark's words, so its rules match some archive items
    rules = make_rules(rule_count, vocab=maker.vocab)
    while done < size:
        chunk = min(CHUNK, size - done)
        feeds = max(1, -(-chunk // ITEMS_PER_FEED))
        per_feed = -(-chunk // feeds)
        first = FIRST_NUMBER + done  # item numbers (and so texts, links, GUIDs) never repeat
        farm = FeedFarm(
            feeds,
            hosts=min(50, feeds),
            items=per_feed,
            shown=per_feed,
            maker=maker,
            first_number=first,
        )
        with farm:
            spec = ConfigSpec(
                sources={f"a{first + i:09d}": farm.url(i) for i in range(feeds)},
                rules=rules,
                channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
                service={"timeout": "120s"},
            )
            config = spec.write(folder)
            began = time.monotonic()
            cmd = newswatch_cmd("once", "--config", str(config))
            run = run_measured(cmd, folder, "build", env=newswatch_env())
            if run.returncode != 0:
                raise SystemExit(f"archive build failed:\n{run.text()[-3000:]}")
        done += feeds * per_feed
        say(f"  archive: {done:,}/{size:,} articles ({time.monotonic() - began:.0f}s this chunk)")
    return folder / "newswatch.db"


def schema_of(db: Path) -> tuple[int, tuple[str, ...]]:
    """``user_version`` and the sorted CREATE statements: what a schema change changes."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    finally:
        conn.close()
    return version, tuple(sorted(r[0] for r in rows))


def _small_poll(folder: Path, db: Path) -> None:
    """``newswatch once`` on ``db`` polling one feed of one item (creates or migrates it)."""
    with FeedFarm(1, items=1, first_number=FIRST_NUMBER - 1_000_000) as farm:
        config = ConfigSpec(
            sources={"upgrade": farm.url(0)},
            rules=make_rules(1),
            channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
            service={"database": str(db)},
        ).write(folder, "small.toml")
        cmd = newswatch_cmd("once", "--config", str(config))
        run = run_measured(cmd, folder, "small", env=newswatch_env())
    if run.returncode != 0:
        raise SystemExit(f"newswatch once failed:\n{run.text()[-3000:]}")


def current_schema(cache: Path) -> tuple[int, tuple[str, ...]]:
    """The schema this checkout's newswatch creates (from a database it makes now)."""
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        db = Path(tmp) / "fresh.db"
        _small_poll(Path(tmp), db)
        return schema_of(db)


def upgrade(path: Path, cache: Path) -> None:
    """Let the current newswatch migrate a cached archive (one small poll), in place."""
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        _small_poll(Path(tmp), path)
    checkpoint(path)


def checkpoint(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def git_commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return result.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", type=int)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    path = ensure_archive(args.size, args.cache, rules=args.rules, rebuild=args.rebuild)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
