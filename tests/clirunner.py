"""Drive the real ``newswatch`` command line in a subprocess, with a config written per test
(from tables with :func:`write_config`, or as text with :func:`write_config_text`)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from scheduler.config import Problem, load_config
from scheduler.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)


def write_config(
    folder: Path,
    *,
    sources: Mapping[str, Mapping[str, Any]],
    rules: Mapping[str, Mapping[str, Any]],
    channels: Mapping[str, Mapping[str, Any]],
    service: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``config.toml`` into ``folder`` and return its path."""
    lines = ["[service]"]
    merged = {"database": "newswatch.db", "interval": "1h", "timeout": "5s"}
    merged.update(service or {})
    lines += [f"{key} = {toml_value(value)}" for key, value in merged.items()]
    for section, tables in (("sources", sources), ("rules", rules), ("channels", channels)):
        for name, table in tables.items():
            lines.append(f"\n[{section}.{name}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_config_text(folder: Path, text: str, name: str = "config.toml") -> Path:
    """Write ``text`` as the config file ``name`` in ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def config_problems(path: Path, environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem loading the config file reports; the load must fail."""
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=dict(environ or {}))
    return caught.value.problems


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def newswatch(
    *args: str,
    config: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m newswatch ARGS`` in ``cwd`` to completion."""
    cmd = [sys.executable, "-m", "newswatch", *args]
    if config is not None:
        cmd += ["--config", str(config)]
    # No terminal on stdin: a command never waits for an answer.
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=cli_env(env),
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def start_service(
    config: Path, *extra: str, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``newswatch run`` in the background."""
    cmd = [sys.executable, "-m", "newswatch", *extra, "run", "--config", str(config)]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(env), cwd=ROOT
    )


def stop_service(proc: subprocess.Popen[str], timeout: float = 10.0) -> tuple[int, float, str]:
    """SIGTERM the service; returns (exit code, seconds it took, stderr)."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"service did not stop within {timeout}s:\n{err}") from None
    return proc.returncode, time.monotonic() - started, err


def db_rows(db_path: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Read rows from the service's database (safe while it runs: WAL)."""
    if not db_path.exists():
        return []
    db = sqlite_utils.Database(db_path)
    try:
        return list(db.query(sql, params or []))
    except Exception:  # table not created yet
        return []
    finally:
        db.close()


def make_due(db_path: Path) -> None:
    """Make every delivery that waits due now: retries, digest holds and notices."""
    past = "2000-01-01T00:00:00+00:00"
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE outbox SET next_attempt = ?", [past])
        conn.execute("UPDATE outbox SET digest_due = ? WHERE state = 'digest'", [past])
        conn.execute("UPDATE notices SET next_attempt = ?", [past])
