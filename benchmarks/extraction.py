"""Measure article-text extraction against the ground truth in the shared corpus.

Sets (under ../shared/corpus/articles):
  zyte         zyte-benchmark: html/<id>.html.gz vs ground-truth.json ``articleBody``
  readability  readability/<name>: source.html vs the text of expected.html
  newspaper4k  newspaper4k: html/<name>.html vs txt/<name>.txt
  trafilatura  trafilatura/evaldata.json: ``with`` snippets must appear, ``without`` must not

Text sets are scored on bags of tokens (multiset overlap): word tokens, except that Han,
kana, Thai, Lao, Khmer and Myanmar characters count one token each because those scripts
do not separate words with spaces. The Zyte set is also scored with that benchmark's own
4-gram shingle metric (mean P and R, F1 of the means) so figures compare with published
ones. For the trafilatura set, P is the share of ``without`` snippets absent and R the share
of ``with`` snippets found.

Per-page results go to benchmarks/results/extraction-<set>.tsv (id, P, R, F1).

    /tmp/nw/bin/python benchmarks/extraction.py            # the default options
    /tmp/nw/bin/python benchmarks/extraction.py --compare  # several option sets
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import lxml.html

from crawler.errors import ParseError
from crawler.extract import DEFAULT_OPTIONS, Extracted, ExtractOptions, extract_with_options

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "articles"
RESULTS = Path(__file__).resolve().parent / "results"

_CHAR_SCRIPTS = (
    "\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff"
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
)
_TOKEN = re.compile(rf"[{_CHAR_SCRIPTS}]|[^\W{_CHAR_SCRIPTS}]+")
_ZYTE_TOKEN = re.compile(r"\w+")

FIELDS = ("language", "date", "author")
COMBINATIONS = {
    "default": ExtractOptions(),
    "precision": ExtractOptions(favor_precision=True),
    "recall": ExtractOptions(favor_recall=True),
    "no-tables": ExtractOptions(include_tables=False),
    "fast": ExtractOptions(fast=True),
    "precision-no-tables": ExtractOptions(favor_precision=True, include_tables=False),
    "precision-fast": ExtractOptions(favor_precision=True, fast=True),
}


@dataclass(frozen=True)
class Page:
    id: str
    html: bytes
    truth: str | None = None  # expected article text
    with_: tuple[str, ...] = ()  # snippets that must appear (trafilatura set)
    without: tuple[str, ...] = ()  # snippets that must not appear
    meta: dict[str, str] = field(default_factory=dict)  # stated language / date / author


@dataclass(frozen=True)
class Score:
    id: str
    p: float
    r: float
    f1: float
    extra: tuple[float, float] | None = None  # Zyte 4-gram shingle P and R


# --- corpus loaders -----------------------------------------------------------------------


def load_zyte() -> Iterator[Page]:
    root = CORPUS / "zyte-benchmark"
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    for key, item in sorted(truth.items()):
        html = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes())
        yield Page(key, html, truth=item["articleBody"])


def load_readability() -> Iterator[Page]:
    for folder in sorted(p for p in (CORPUS / "readability").iterdir() if p.is_dir()):
        # expected.html is UTF-8 without a charset declaration, so lxml must get text.
        expected = lxml.html.fromstring((folder / "expected.html").read_text(encoding="utf-8"))
        stated = json.loads((folder / "expected-metadata.json").read_text(encoding="utf-8"))
        meta = _meta(stated.get("lang"), stated.get("publishedTime"), stated.get("byline"))
        html = (folder / "source.html").read_bytes()
        yield Page(folder.name, html, truth=_html_text(expected), meta=meta)


def load_newspaper4k() -> Iterator[Page]:
    root = CORPUS / "newspaper4k"
    for txt in sorted((root / "txt").glob("*.txt")):
        html = (root / "html" / f"{txt.stem}.html").read_bytes()
        meta_file = root / "metadata" / f"{txt.stem}.json"
        stated = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
        authors = stated.get("authors") or [None]
        meta = _meta(stated.get("language"), stated.get("publish_date"), authors[0])
        yield Page(txt.stem, html, truth=txt.read_text(encoding="utf-8"), meta=meta)


def load_trafilatura() -> Iterator[Page]:
    root = CORPUS / "trafilatura"
    evaldata = json.loads((root / "evaldata.json").read_text(encoding="utf-8"))
    for item in sorted(evaldata.values(), key=lambda item: item["file"]):
        html = (root / "html" / item["file"]).read_bytes()
        meta = _meta(None, item.get("date"), item.get("author"))
        snippets = {"with_": tuple(item["with"]), "without": tuple(item["without"])}
        yield Page(item["file"], html, meta=meta, **snippets)


SETS = {
    "zyte": load_zyte,
    "readability": load_readability,
    "newspaper4k": load_newspaper4k,
    "trafilatura": load_trafilatura,
}


def _meta(language: str | None, published: str | None, author: str | None) -> dict[str, str]:
    stated = {"language": language, "date": published, "author": author}
    return {key: value for key, value in stated.items() if value}


def _html_text(tree: lxml.html.HtmlElement) -> str:
    for tag in tree.iter("script", "style"):
        tag.drop_tree()
    return " ".join(tree.itertext())


# --- scoring ------------------------------------------------------------------------------


def tokenize(text: str) -> Counter[str]:
    """Bag of tokens: words, or single characters in scripts written without spaces."""
    return Counter(token.lower() for token in _TOKEN.findall(text))


def score_text(page_id: str, predicted: str, truth: str) -> Score:
    """Token-level precision, recall and F1 of one page (multiset overlap)."""
    pred, true = tokenize(predicted), tokenize(truth)
    overlap = sum((pred & true).values())
    p = overlap / sum(pred.values()) if pred else 0.0
    r = overlap / sum(true.values()) if true else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return Score(page_id, p, r, f1, extra=_zyte_shingles(predicted, truth))


def _zyte_shingles(predicted: str, truth: str, n: int = 4) -> tuple[float, float]:
    # The Zyte benchmark's evaluate.py: 4-gram shingles of \w+ tokens, per-page P and R.
    def shingles(text: str) -> Counter[tuple[str, ...]]:
        tokens = _ZYTE_TOKEN.findall(text)
        grams = (tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)))
        return Counter(gram for gram in grams if gram)

    pred, true = shingles(predicted), shingles(truth)
    tp = sum((pred & true).values())
    fp, fn = sum((pred - true).values()), sum((true - pred).values())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r


def score_snippets(page: Page, predicted: str) -> Score:
    """P = share of boilerplate snippets absent, R = share of body snippets present."""
    found = sum(snippet in predicted for snippet in page.with_)
    leaked = sum(snippet in predicted for snippet in page.without)
    r = found / len(page.with_) if page.with_ else 1.0
    p = 1 - leaked / len(page.without) if page.without else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return Score(page.id, p, r, f1)


# --- running ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetResult:
    name: str
    scores: list[Score]
    failures: list[str]
    seconds: float
    metadata: Counter[str]  # "<field>" = pages stating it, "<field>+" = pages we matched

    def mean(self, field: str) -> float:
        return statistics.fmean(getattr(s, field) for s in self.scores) if self.scores else 0.0

    def zyte_f1(self) -> float | None:
        extras = [s.extra for s in self.scores if s.extra]
        if self.name != "zyte" or not extras:
            return None
        p, r = statistics.fmean(e[0] for e in extras), statistics.fmean(e[1] for e in extras)
        return 2 * p * r / (p + r) if p + r else 0.0


def score_metadata(page: Page, got: Extracted | None) -> Counter[str]:
    """Which of the page's stated language, publication day and author were extracted."""
    counts: Counter[str] = Counter(page.meta.keys())
    if got is None:
        return counts
    if (lang := page.meta.get("language")) and got.language == lang.split("-")[0].lower():
        counts["language+"] += 1
    if (stated := page.meta.get("date")) and got.published:
        day = datetime.fromisoformat(stated.replace("Z", "+00:00"))
        day = day.astimezone(UTC) if day.tzinfo else day
        counts["date+"] += got.published.date() == day.date()
    if (author := page.meta.get("author")) and got.author:
        name = author.removeprefix("By ").removeprefix("Par ").casefold()
        counts["author+"] += name in got.author.casefold() or got.author.casefold() in name
    return counts


def run_set(name: str, pages: list[Page], options: ExtractOptions) -> SetResult:
    scores, failures, seconds, metadata = [], [], 0.0, Counter()
    for page in pages:
        start = time.perf_counter()
        try:
            got = extract_with_options(page.html, url=page.id, options=options)
        except ParseError as exc:
            failures.append(f"{page.id}: {exc}")
            got = None
        seconds += time.perf_counter() - start
        text = got.text if got else ""
        if page.truth is not None:
            scores.append(score_text(page.id, text, page.truth))
        else:
            scores.append(score_snippets(page, text))
        metadata += score_metadata(page, got)
    return SetResult(name, scores, failures, seconds, metadata)


def write_tsv(result: SetResult) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"extraction-{result.name}.tsv"
    rows = ["id\tP\tR\tF1"]
    rows += [f"{s.id}\t{s.p:.4f}\t{s.r:.4f}\t{s.f1:.4f}" for s in result.scores]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def print_table(label: str, results: list[SetResult]) -> None:
    print(f"\n{label}")
    header = ("set", "pages", "P", "R", "F1", "zyteF1", "fail", "pages/s")
    widths = (12, 5, 6, 6, 6, 7, 4, 7)
    rows = [header]
    for res in results:
        zyte = res.zyte_f1()
        rows.append(
            (
                res.name,
                str(len(res.scores)),
                *(f"{res.mean(metric):.3f}" for metric in ("p", "r", "f1")),
                "" if zyte is None else f"{zyte:.3f}",
                str(len(res.failures)),
                f"{len(res.scores) / max(res.seconds, 1e-9):.1f}",
            )
        )
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print(" ".join(cells))


def print_metadata(results: list[SetResult]) -> None:
    print("\nmetadata matched / pages stating it")
    for res in results:
        cells = [
            f"{k} {res.metadata[k + '+']}/{res.metadata[k]}" for k in FIELDS if res.metadata[k]
        ]
        if cells:
            print(f"{res.name:<12} " + "   ".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true", help="also try other option sets")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS}", file=sys.stderr)
        return 2
    logging.disable(logging.WARNING)  # trafilatura logs every discarded candidate
    pages = {name: list(load()) for name, load in SETS.items()}
    combos = COMBINATIONS if args.compare else {"chosen": DEFAULT_OPTIONS}
    for label, options in combos.items():
        results = [run_set(name, set_pages, options) for name, set_pages in pages.items()]
        print_table(f"{label}: {options}", results)
        if options == DEFAULT_OPTIONS:
            print_metadata(results)
            for res in results:
                write_tsv(res)
                for failure in res.failures:
                    print(f"  failed {res.name}/{failure}")
    print(f"\nper-page results in {RESULTS}/extraction-<set>.tsv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
