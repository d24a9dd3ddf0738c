"""What many rules cost before any work is done: ``check``, ``once`` and ``run`` start-up.

    python benchmarks/rules_load.py                  # 10 vs 10,000 rules, median of 3
    python benchmarks/rules_load.py --counts 10 1000 10000 --repeat 5 --profile

For each rule count a config with the same five feeds (a local farm) and that many rules
(benchmarks/workload.py) is written. Then, each ``--repeat`` times:

* ``newswatch check``: process wall time;
* ``newswatch once`` on a warm database (every feed answers 304, so nothing is matched):
  process wall time;
* ``newswatch run``: time from launch to the service's first request to the farm, then
  SIGTERM.

The target (issue 12): 10,000 rules add at most 1 s over 10 rules to each. ``--profile``
runs ``check`` with the largest count under pyinstrument and prints where the time went.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import profiles  # noqa: E402
from benchmarks.farm import FeedFarm  # noqa: E402
from benchmarks.procs import Child, newswatch_cmd, newswatch_env, run_measured  # noqa: E402
from benchmarks.workload import ConfigSpec, make_rules  # noqa: E402

TARGET_EXTRA_SECONDS = 1.0


def write_config(folder: Path, farm: FeedFarm, rules: int) -> Path:
    """``config.toml``, and ``run.toml``: the same on a database that ``run`` starts afresh."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = ConfigSpec(
        sources={f"f{i}": farm.url(i) for i in range(len(farm.feeds))},
        rules=make_rules(rules),
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
    )
    spec.write(folder)
    spec.service["database"] = "run.db"
    spec.write(folder, "run.toml")
    return folder / "config.toml"


def time_check(config: Path, folder: Path) -> float:
    run = run_measured(
        newswatch_cmd("check", "--config", str(config)), folder, "check", env=newswatch_env()
    )
    if run.returncode != 0:
        raise SystemExit(f"check failed:\n{run.text()[-2000:]}")
    return run.wall


def time_once(config: Path, folder: Path) -> float:
    run = run_measured(
        newswatch_cmd("once", "--config", str(config)), folder, "once", env=newswatch_env()
    )
    if run.returncode != 0:
        raise SystemExit(f"once failed:\n{run.text()[-2000:]}")
    return run.wall


def time_run_start(config: Path, folder: Path, farm: FeedFarm) -> float:
    """Launch ``run`` and return how long until the farm saw its first request.

    The service polls a source at start only when its last poll is an interval old, so each
    launch gets a new database.
    """
    for suffix in ("", "-wal", "-shm"):
        (folder / f"run.db{suffix}").unlink(missing_ok=True)
    config = folder / "run.toml"
    farm.clear_hits()
    child = Child(newswatch_cmd("run", "--config", str(config)), folder, "run", env=newswatch_env())
    try:
        deadline = time.monotonic() + 120
        while not any(True for _ in farm.all_hits()):
            if child.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"run never polled:\n{child.kill().text()[-2000:]}")
            time.sleep(0.005)
        first = min(hit.at for _, hit in farm.all_hits())
        return first - child.started
    finally:
        child.signal(signal.SIGTERM)
        try:
            child.wait(15)
        except TimeoutError:
            print("  (run did not stop within 15 s of SIGTERM; killed)")


def measure(counts: list[int], repeat: int, work: Path) -> dict[int, dict[str, float]]:
    results: dict[int, dict[str, float]] = {}
    with FeedFarm(5, hosts=5, items=5) as farm:
        configs = {n: write_config(work / f"rules-{n}", farm, n) for n in counts}
        for config in configs.values():
            time_once(config, config.parent)  # fills the database: later polls are 304s
        samples: dict[int, dict[str, list[float]]] = {
            n: {"check": [], "once": [], "run": []} for n in counts
        }
        for _ in range(repeat):  # interleaved, so a busy moment hits every count alike
            for n, config in configs.items():
                samples[n]["check"].append(time_check(config, config.parent))
                samples[n]["once"].append(time_once(config, config.parent))
                samples[n]["run"].append(time_run_start(config, config.parent, farm))
        for n in counts:
            results[n] = {k: statistics.median(v) for k, v in samples[n].items()}
    return results


def report(results: dict[int, dict[str, float]]) -> bool:
    counts = sorted(results)
    print(f"{'rules':>8}  {'check':>8}  {'once (304s)':>12}  {'run: first request':>19}")
    for n in counts:
        r = results[n]
        print(f"{n:>8}  {r['check']:>7.2f}s  {r['once']:>11.2f}s  {r['run']:>18.2f}s")
    low, high = counts[0], counts[-1]
    ok = True
    for what in ("check", "once", "run"):
        extra = results[high][what] - results[low][what]
        good = extra <= TARGET_EXTRA_SECONDS
        ok &= good
        print(
            f"  [{'ok' if good else 'MISS'}] {what}: {high} rules add {extra:+.2f}s over {low} "
            f"(target <= {TARGET_EXTRA_SECONDS:.0f}s)"
        )
    return ok


def profile(config: Path, tool: str, out: Path) -> None:
    """``check``, then ``once`` (all 304s), under py-spy or pyinstrument, as the user runs them."""
    time_once(config, config.parent)  # fills the database: the profiled once polls 304s
    for command in ("check", "once"):
        cmd = newswatch_cmd(command, "--config", str(config))
        target = out.with_name(f"{out.name}-{command}")
        if tool == "pyinstrument":
            report = profiles.record_pyinstrument(cmd, target, newswatch_env())
            print("\n".join(report.read_text().splitlines()[:80]))
        else:
            report = profiles.record_py_spy(cmd, target, newswatch_env())
            print(profiles.summarize_speedscope(report))
        print(f"profile of {command} written to {report}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 10_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--profile", choices=["py-spy", "pyinstrument"], help="profile check with most rules"
    )
    parser.add_argument("--profile-dir", type=Path, default=Path("/work/tmp-bench/profiles"))
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="newswatch-rules-") as tmp:
        work = Path(tmp)
        results = measure(sorted(args.counts), args.repeat, work)
        ok = report(results)
        if args.profile:
            args.profile_dir.mkdir(parents=True, exist_ok=True)
            out = args.profile_dir / f"rules-{max(args.counts)}"
            with FeedFarm(5, hosts=5) as farm:
                profile(write_config(work / "profile", farm, max(args.counts)), args.profile, out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
