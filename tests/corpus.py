"""The shared real-world corpus (``shared/corpus`` beside the repository) for the tests that
read it; see shared/corpus/PROVENANCE.md. A test that needs a file skips when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FUZZ_FEEDS = CORPUS / "feeds" / "fuzz"  # inputs that make feedparser raise


def corpus_text(path: str | Path) -> str:
    """The text of a corpus file (``path`` relative to the corpus, or absolute), or skip."""
    full = CORPUS / path
    if not full.is_file():
        pytest.skip(f"corpus file {full} is absent (see shared/corpus/PROVENANCE.md)")
    return full.read_text(encoding="utf-8")
