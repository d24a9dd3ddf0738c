"""Precision and recall of the Cambodia watch pack (the rules in config.toml) on labelled items.

Loads the rules from config.toml through the project's config loader, matches every item of
the labelled sets and prints, per rule and per language, how many labelled items each rule
found (recall) and how many of its matches were labelled for it (precision); then the same at
the "any rule" level, which is what a reader of the inbox sees: an item is relevant when it has
any label, and alerted when any rule matched it. Last, whether the real article in
../shared/seed matches, and which rules.

There are two sets: tests/data/cambodia_eval.jsonl, written together with the rules, and
tests/data/cambodia_eval_blind.jsonl, written afterwards without looking at the rules. Each set
gets its own tables, then their union. `--data FILE` (repeatable) measures other files instead.

    python benchmarks/cambodia_eval.py [--config config.toml] [--data FILE ...] [--errors]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Project modules: the only imports to update when modules move.
from alerts.rules.matcher import Document, Matcher  # noqa: E402
from scheduler.config import load_config  # noqa: E402
from scheduler.wiring import build_rules  # noqa: E402

CONFIG = ROOT / "config.toml"
DATA = ROOT / "tests" / "data" / "cambodia_eval.jsonl"
BLIND = ROOT / "tests" / "data" / "cambodia_eval_blind.jsonl"
DATASETS = (DATA, BLIND)  # what the benchmark and tests/test_cambodia_pack.py measure
LANGUAGES = ("en", "km", "zh")
ALL = "all"


@dataclass
class Counts:
    """True positives, false positives and false negatives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, expected: bool, predicted: bool) -> None:
        """Count one item."""
        if expected and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif expected:
            self.fn += 1

    @property
    def precision(self) -> float:
        """Share of matches that were labelled; 1.0 when nothing matched."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Share of labelled items that matched; 1.0 when nothing was labelled."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def labelled(self) -> int:
        """Items labelled relevant."""
        return self.tp + self.fn


@dataclass
class Report:
    """Everything the benchmark measures."""

    rules: tuple[str, ...]
    items: dict[str, int] = field(default_factory=dict)  # language (and ALL) -> items
    # rule name (or ALL for the any-rule level) -> language (or ALL) -> counts
    counts: dict[str, dict[str, Counts]] = field(default_factory=dict)
    missed: list[tuple[str, str, list[str]]] = field(default_factory=list)  # any-rule FN
    false_alerts: list[tuple[str, str, list[str]]] = field(default_factory=list)  # any-rule FP
    rule_misses: dict[str, list[str]] = field(default_factory=dict)  # rule -> labelled ids
    rule_extras: dict[str, list[str]] = field(default_factory=dict)  # rule -> unlabelled ids
    seed: dict[str, list[str]] | None = None  # seed file name -> rules that matched

    def get(self, rule: str, lang: str = ALL) -> Counts:
        """Counts of ``rule`` (or ALL) in ``lang`` (or ALL)."""
        return self.counts.setdefault(rule, {}).setdefault(lang, Counts())


def load_items(path: Path | Iterable[Path] = DATA) -> list[dict]:
    """The labelled items, one JSON object per line; of several files, all in order."""
    paths = [path] if isinstance(path, Path) else list(path)
    items = []
    for one in paths:
        with one.open(encoding="utf-8") as lines:
            items += [json.loads(line) for line in lines if line.strip()]
    return items


def build_matcher(config_path: Path = CONFIG) -> Matcher:
    """The matcher the service would build from this config's enabled rules."""
    return Matcher.build(build_rules(load_config(config_path)))


def shared_dir(root: Path = ROOT) -> Path | None:
    """``<repo>/../shared``; in a git worktree, also next to the main checkout."""
    candidates = [root.parent / "shared"]
    dot_git = root / ".git"
    if dot_git.is_file():
        # A worktree's .git file says "gitdir: <main>/.git/worktrees/<name>".
        gitdir = Path(dot_git.read_text(encoding="utf-8").partition("gitdir:")[2].strip())
        candidates.append(gitdir.parent.parent.parent.parent / "shared")
    return next((path for path in candidates if path.is_dir()), None)


def seed_files(root: Path = ROOT) -> list[Path]:
    """The real articles in ../shared/seed that the pack must match (empty if absent)."""
    shared = shared_dir(root)
    return sorted((shared / "seed").glob("*.txt")) if shared else []


def match_seed(matcher: Matcher, path: Path) -> list[str]:
    """Names of the rules matching a seed article (first line is its title)."""
    title, _, body = path.read_text(encoding="utf-8").partition("\n")
    return [m.rule for m in matcher.match(Document(title=title.strip(), body=body))]


def evaluate(
    config_path: Path = CONFIG,
    data_path: Path | Iterable[Path] = DATA,
    seeds: Iterable[Path] | None = None,
    matcher: Matcher | None = None,
) -> Report:
    """Match every labelled item of one file or several (and the seed articles) with the rules."""
    matcher = matcher or build_matcher(config_path)
    report = Report(rules=matcher.rule_names)
    for item in load_items(data_path):
        doc = Document(title=item["title"], body=item["body"], language=item["lang"])
        matched = {m.rule for m in matcher.match(doc)}
        _count(report, item, matched)
    files = seed_files() if seeds is None else list(seeds)
    if files:
        report.seed = {path.name: match_seed(matcher, path) for path in files}
    return report


def _count(report: Report, item: dict, matched: set[str]) -> None:
    labels, lang = set(item["labels"]), item["lang"]
    for where in (lang, ALL):
        report.items[where] = report.items.get(where, 0) + 1
    for rule in report.rules:
        for where in (lang, ALL):
            report.get(rule, where).add(rule in labels, rule in matched)
        if rule in labels and rule not in matched:
            report.rule_misses.setdefault(rule, []).append(item["id"])
        elif rule in matched and rule not in labels:
            report.rule_extras.setdefault(rule, []).append(item["id"])
    for where in (lang, ALL):
        report.get(ALL, where).add(bool(labels), bool(matched))
    entry = (item["id"], item["title"], sorted(matched or labels))
    if labels and not matched:
        report.missed.append(entry)
    elif matched and not labels:
        report.false_alerts.append(entry)


def _cell(counts: Counts) -> str:
    return f"{counts.precision:6.2f}{counts.recall:6.2f}{counts.labelled:5d}"


def format_report(report: Report, errors: bool = False, seed: bool = True) -> str:
    """The tables ``main`` prints for one set (``seed=False`` leaves out the seed lines)."""
    columns = (*LANGUAGES, ALL)
    lines = [f"{report.items.get(ALL, 0)} items, rules: {', '.join(report.rules)}", ""]
    lines.append(f"{'Per rule':27}" + "".join(f"{c:^17}" for c in columns))
    lines.append(f"{'':27}" + f"{'P':>6}{'R':>6}{'n':>5}" * len(columns))
    for rule in report.rules:
        lines.append(f"{rule:27}" + "".join(_cell(report.get(rule, c)) for c in columns))
    lines.append(f"{'':27}(P precision, R recall, n items labelled for the rule)")
    lines += ["", "Any rule (relevant: has a label; alerted: any rule matched)"]
    lines.append(f"{'':6}{'items':>6}{'TP':>5}{'FP':>5}{'FN':>5}{'precision':>11}{'recall':>8}")
    for lang in columns:
        c, n = report.get(ALL, lang), report.items.get(lang, 0)
        lines.append(
            f"{lang:6}{n:>6}{c.tp:>5}{c.fp:>5}{c.fn:>5}{c.precision:>11.3f}{c.recall:>8.3f}"
        )
    if seed:
        lines += ["", *_seed_lines(report)]
    if errors:
        lines += ["", "Missed (labelled, no rule matched):"]
        lines += [f"  {i}  {t}  [{', '.join(r)}]" for i, t, r in report.missed]
        lines += ["False alerts (no label, matched by):"]
        lines += [f"  {i}  {t}  [{', '.join(r)}]" for i, t, r in report.false_alerts]
        lines += ["Per-rule misses:"]
        lines += [f"  {rule}: {' '.join(ids)}" for rule, ids in report.rule_misses.items()]
        lines += ["Per-rule matches of items not labelled for the rule:"]
        lines += [f"  {rule}: {' '.join(ids)}" for rule, ids in report.rule_extras.items()]
    return "\n".join(lines)


def _seed_lines(report: Report) -> list[str]:
    if report.seed is None:
        return ["Seed article: ../shared/seed not found, not checked"]
    return [
        f"Seed article {name}: " + (f"matched by {', '.join(rules)}" if rules else "NOT MATCHED")
        for name, rules in report.seed.items()
    ]


def evaluate_sets(
    config_path: Path = CONFIG,
    data_paths: Iterable[Path] = DATASETS,
    matcher: Matcher | None = None,
) -> dict[str, Report]:
    """One report per file, then (for several files) one for their union, under "union"."""
    matcher = matcher or build_matcher(config_path)
    paths = list(data_paths)
    reports = {
        set_name(path): evaluate(data_path=path, seeds=[], matcher=matcher) for path in paths
    }
    if len(paths) > 1:
        reports["union"] = evaluate(data_path=paths, seeds=[], matcher=matcher)
    return reports


def set_name(path: Path) -> str:
    """How reports name a labelled file: its path in the repository when it is inside."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """Print the tables of each set and their union; exit 1 if the seed article is not matched."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--data", type=Path, action="append", help="a labelled file (repeatable)")
    parser.add_argument("--errors", action="store_true", help="list missed and false alerts")
    args = parser.parse_args(argv)
    matcher = build_matcher(args.config)
    sections = [
        f"== {name} ==\n" + format_report(report, errors=args.errors, seed=False)
        for name, report in evaluate_sets(args.config, args.data or DATASETS, matcher).items()
    ]
    seeds = evaluate(args.config, [], matcher=matcher)  # no items: the seed articles only
    print("\n\n".join([*sections, "\n".join(_seed_lines(seeds))]))
    return 1 if seeds.seed is not None and not all(seeds.seed.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
