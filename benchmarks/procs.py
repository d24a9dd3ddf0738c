"""Run programs under measurement: wall time, peak memory of the child, its JSON log.

Peak memory is the child's ``VmHWM`` (the high-water mark of its resident set, in KiB), read
from ``/proc/PID/status`` every few milliseconds while it runs, so a benchmark measures
newswatch, rss2email or the naive loop without the farm that serves them or the driver.
``ru_maxrss`` from ``wait4`` would not do: Linux keeps in it the resident set of the memory
the child had before ``exec``, which is the driver's own (hundreds of MB with a big farm).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Measured:
    """One finished child process."""

    cmd: list[str]
    returncode: int
    started: float  # time.monotonic() at launch
    started_wall: float  # time.time() at launch
    ended: float  # time.monotonic() when it was reaped
    maxrss_kib: int
    stdout: Path
    stderr: Path
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return self.ended - self.started

    @property
    def peak_mib(self) -> float:
        return self.maxrss_kib / 1024

    def log_offsets(self, predicate: Any) -> list[float]:
        """Seconds after launch of each log record for which ``predicate(record)`` holds."""
        return [r["at"] for r in self.log if predicate(r)]

    def text(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")


def newswatch_cmd(*args: str) -> list[str]:
    """``python -m newswatch --log-format json ARGS`` with this interpreter."""
    return [sys.executable, "-m", "newswatch", "--log-format", "json", *args]


def newswatch_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for newswatch: this checkout first, no proxies, no NEWSWATCH_*."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NEWSWATCH_") and k.lower() not in ("http_proxy", "https_proxy")
    }
    env["PYTHONPATH"] = str(ROOT)
    env["no_proxy"] = "*"
    env.update(extra or {})
    return env


class Child:
    """A started child whose exit is collected with ``wait4`` (for its own rusage)."""

    def __init__(
        self,
        cmd: Sequence[str],
        folder: Path,
        name: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.cmd = list(cmd)
        self.stdout = folder / f"{name}.out"
        self.stderr = folder / f"{name}.err"
        self.started_wall = time.time()
        self.started = time.monotonic()
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                self.cmd,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd or ROOT,
            )
        self.result: Measured | None = None
        self.hwm_kib = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> Measured | None:
        """The result if the child has exited, else None (never blocks)."""
        if self.result is None:
            self.hwm_kib = max(self.hwm_kib, vm_hwm_kib(self.proc.pid))
            self._reap(os.WNOHANG)
        return self.result

    def wait(self, timeout: float | None = None) -> Measured:
        """Wait for the child to exit; SIGKILL it after ``timeout`` and raise TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"{self.cmd[:4]} still running after {timeout}s")
            time.sleep(0.005)
        assert self.result is not None
        return self.result

    def signal(self, signum: int) -> None:
        if self.result is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signum)

    def kill(self) -> Measured:
        """SIGKILL and reap."""
        self.signal(signal.SIGKILL)
        while self.result is None:
            self._reap(0)
        return self.result

    def _reap(self, flags: int) -> None:
        pid, status, _ = os.wait4(self.proc.pid, flags)
        if pid == 0:
            return
        ended = time.monotonic()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.result = Measured(
            cmd=self.cmd,
            returncode=self.proc.returncode,
            started=self.started,
            started_wall=self.started_wall,
            ended=ended,
            maxrss_kib=self.hwm_kib,
            stdout=self.stdout,
            stderr=self.stderr,
            log=read_json_log(self.stderr, self.started_wall),
        )


def run_measured(
    cmd: Sequence[str],
    folder: Path,
    name: str,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 3600,
) -> Measured:
    """Run ``cmd`` to completion; its output goes to ``folder/name.out`` and ``.err``."""
    return Child(cmd, folder, name, env=env).wait(timeout)


def read_json_log(path: Path, started_wall: float) -> list[dict[str, Any]]:
    """JSON log records, each with ``at``: seconds after launch (from its ``time``)."""
    records = []
    if not path.exists():
        return records
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
            when = datetime.fromisoformat(record["time"]).timestamp()
        except (ValueError, KeyError):
            continue
        record["at"] = when - started_wall
        records.append(record)
    return records


def vm_hwm_kib(pid: int) -> int:
    """The peak resident set of a running process so far (VmHWM), 0 if it is gone.

    A zombie (exited, not yet reaped) has no memory left to report: 0 as well.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
